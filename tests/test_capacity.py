"""Measured capacity: `fleet` sized from a server scenario's peak, `rank --min-throughput` on
offline/server figures, and what each says when it falls back to single-stream.

Stores are built through the real write path (tests/test_rank_builder.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rigbench.agent.jobs import LoadResult
from rigbench.controller.cli import app
from rigbench.controller.ranking import Constraints, RankRequest, rank
from rigbench.controller.ranking.capacity import server_capacity
from rigbench.controller.ranking.fleet import devices_needed, size_fleet
from rigbench.controller.store import Store
from tests.builders.ranking import (
    CLOUD_COST,
    PI_COST,
    SEARCH,
    RunBuilder,
    load_point,
    lognormal_ns,
)

# A server search on the Pi: 8 ms single-stream (125 inf/s one at a time), but four
# executors serve far more. Points as a search leaves them: held, failed, stopped early.


def cli(store: Store, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--store", str(store.path)])


@pytest.fixture
def measured(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store.duckdb")
    b = RunBuilder(store).device("pi", PI_COST).device("cloud", CLOUD_COST)
    b.result("pi", "int8", lognormal_ns(8.0, seed=1), power_mw=5000, energy_source="rpi:total")
    b.load_result(
        "pi",
        "int8",
        LoadResult("server", SEARCH, headline=2, latency_bound_ms=50.0, search="converged"),
        power_mw=9000,
        energy_source="rpi:total",
    )
    b.result("cloud", "fp32", lognormal_ns(1.0, seed=2))
    b.finish()
    return store


def points_of(store: Store) -> list:
    return rank(store, RankRequest()).load_points


def test_server_capacity_is_the_highest_complete_rate_within_the_bound(measured: Store) -> None:
    points = points_of(measured)
    cap = server_capacity(points, 50.0, 99)
    assert cap is not None and cap.kind == "server"
    assert cap.point.target_qps == 375.0 and cap.ips == pytest.approx(375.0, rel=1e-6)
    # A looser bound is answered from the same points; the early-stopped point never counts.
    loose = server_capacity(points, 100.0, 99)
    assert loose is not None and loose.point.target_qps == 410.0
    assert server_capacity(points, 1000.0, 99).point.target_qps == 410.0  # type: ignore[union-attr]
    # A bound no point met: nothing measured.
    assert server_capacity(points, 5.0, 99) is None


def test_fleet_answers_from_the_measured_peak(measured: Store) -> None:
    plan = size_fleet(measured, RankRequest(constraints=Constraints(latency_ms=50)), qps=1000)
    pi = next(o for o in plan.options if o.choice.device == "pi")
    assert pi.measured is not None
    assert pi.capacity_ips == pytest.approx(375.0, rel=1e-6)
    assert pi.devices == math.ceil(1000 / pi.capacity_ips) == 3  # no headroom on a measured peak
    assert pi.queue_wait_ms is None  # the wait is in the measured percentile
    assert pi.latency_ms is not None and pi.latency_ms <= 50
    assert pi.power_w == pytest.approx(3 * 9.0)  # power measured under load
    # The estimate would have asked for ceil(1000 / (125 x 0.7)) = 12 devices.
    assert devices_needed(1000, pi.choice.throughput_ips or 0, 0.7) == 12
    cloud = next(o for o in plan.options if o.choice.device == "cloud")
    assert cloud.measured is None  # no server scenario: the estimate, as before


def test_fleet_output_says_measured_and_estimated_apart(measured: Store) -> None:
    out = cli(measured, "fleet", "--qps", "1000", "--latency-ms", "50").output
    assert "measured" in out and "estimate" in out
    assert "assumption: measured: capacity per device = the highest rate a server scenario" in out
    assert "assumption: estimated" in out
    assert "capacity of pi / int8 / ort-cpu: measured: server scenario 'server'" in out
    assert "under load" in out and "in p99" in out
    data = json.loads(
        cli(measured, "fleet", "--qps", "1000", "--latency-ms", "50", "-f", "json").output
    )
    by_device = {o["device"]: o for o in data["options"]}
    assert by_device["pi"]["capacity_basis"] == "measured"
    assert by_device["pi"]["devices"] == 3
    assert by_device["pi"]["measured_capacity"]["latency_ms"] == 50.0
    assert by_device["cloud"]["capacity_basis"] == "estimated"


def test_a_bound_the_server_scenario_never_met_falls_back_to_the_estimate(
    measured: Store,
) -> None:
    plan = size_fleet(measured, RankRequest(constraints=Constraints(latency_ms=12)), qps=100)
    pi = next(o for o in plan.options if o.choice.device == "pi")
    assert pi.measured is None
    assert any("served no rate with p99 <= 12 ms" in n for n in pi.choice.notes)
    out = cli(measured, "fleet", "--qps", "100", "--latency-ms", "12").output
    assert "sized from the single-stream estimate" in out


def test_min_throughput_uses_the_measured_capacity(measured: Store) -> None:
    req = RankRequest(constraints=Constraints(min_throughput_ips=200))
    r = rank(measured, req)
    ok = {(c.device, c.scenario) for c in r.ranked}
    # Single-stream alone (125 inf/s) would fail 200; the deployment serves 375 within its bound.
    assert ("pi", "single-stream") in ok
    pi = next(c for c in r.ranked if c.device == "pi" and c.scenario == "single-stream")
    assert pi.capacity is not None and pi.capacity.kind == "server"
    out = cli(measured, "rank", "--min-throughput", "400").output
    assert "capacity/s" in out
    assert "375 server" in out or "throughput excluded" in out
    assert "(server) < 400 inf/s" in out


def test_min_throughput_without_load_scenarios_says_single_stream(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    b = RunBuilder(store).device("pi", PI_COST)
    b.result("pi", "int8", lognormal_ns(8.0, seed=1))
    b.finish()
    r = rank(store, RankRequest(constraints=Constraints(min_throughput_ips=200)))
    assert not r.ranked
    (why,) = r.excluded[0].exclusions
    assert "(single-stream) < 200 inf/s" in why.detail


def test_offline_capacity_counts_samples_of_the_best_point(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    b = RunBuilder(store).device("pi", PI_COST)
    b.result("pi", "int8", lognormal_ns(8.0, seed=1))
    sweep = [
        load_point(120.0, 9.0, concurrency=1, batch=1, target_qps=0.0),
        load_point(100.0, 30.0, concurrency=1, batch=4, target_qps=0.0),  # 400 samples/s
        load_point(200.0, 12.0, concurrency=2, batch=1, target_qps=0.0),
    ]
    b.load_result("pi", "int8", LoadResult("offline", sweep, headline=1))
    b.finish()
    r = rank(store, RankRequest(constraints=Constraints(min_throughput_ips=300)))
    pi = next(c for c in r.ranked if c.scenario == "single-stream")
    assert pi.capacity is not None and pi.capacity.kind == "offline"
    assert pi.capacity.ips == pytest.approx(400.0, rel=1e-6)
    assert "batch 4" in pi.capacity.describe()


def test_a_server_search_whose_bound_never_held_is_excluded_saying_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    b = RunBuilder(store).device("pi", PI_COST)
    tried = [
        load_point(100.0, 90.0, held=False, stop_reason="bound_lost", served=20, seed=1),
        load_point(50.0, 60.0, held=False, seed=2),
    ]
    b.load_result(
        "pi",
        "int8",
        LoadResult("server", tried, headline=1, latency_bound_ms=40.0, search="bound never met"),
    )
    b.finish()
    r = rank(store, RankRequest())
    (server,) = r.excluded
    (why,) = server.exclusions
    assert why.constraint == "server bound"
    assert why.detail.startswith("no rate met p99 <= 40 ms (lowest tried 50 req/s: p99 ")
