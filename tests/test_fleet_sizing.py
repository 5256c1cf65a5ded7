"""`rigbench fleet`: devices needed for a target load, monthly cost, power draw, assumptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from rigbench.controller.cli import app
from rigbench.controller.cli.common import EXIT_ERROR
from rigbench.controller.cost import HOURS_PER_MONTH
from rigbench.controller.ranking import Constraints, RankRequest
from rigbench.controller.ranking.fleet import devices_needed, mg1_mean_wait_s, size_fleet
from rigbench.controller.store import Store
from tests.builders.ranking import CLOUD_COST, PI_COST, RunBuilder, lognormal_ns, new_store


def cli(store: Store, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--store", str(store.path)])


@pytest.fixture
def farm(tmp_path: Path) -> Store:
    """A Pi (owned, measured power), a cloud instance, and a device without cost data."""
    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST).device("cloud", CLOUD_COST).device("lab")
    b.result("pi", "int8", lognormal_ns(8.0, seed=1), power_mw=5000, energy_source="rpi:total")
    b.result("cloud", "fp32", lognormal_ns(1.0, seed=2))
    b.result("lab", "fp32", lognormal_ns(2.0, seed=3))
    b.finish()
    return store


def test_fleet_size_leaves_the_headroom() -> None:
    # 1000 qps on devices of 300 inf/s at 70%: 210 usable each -> 5 devices.
    assert devices_needed(1000, 300, 0.7) == 5


@given(qps=st.floats(0.1, 1e6), cap=st.floats(0.1, 1e5), headroom=st.floats(0.05, 1.0))
def test_fleet_size_is_the_fewest_devices_within_headroom(
    qps: float, cap: float, headroom: float
) -> None:
    n = devices_needed(qps, cap, headroom)
    assert qps / (n * cap) <= headroom * (1 + 1e-6)
    assert n == 1 or qps / ((n - 1) * cap) > headroom * (1 - 1e-6)


def test_queue_wait_of_deterministic_service_is_m_d_1() -> None:
    # rho = 0.5, mu = 100/s: Wq = 0.5 / (2 * 100 * 0.5) = 5 ms.
    assert mg1_mean_wait_s(50, 100, 0.0) == pytest.approx(0.005)


def test_queue_wait_grows_with_latency_spread() -> None:
    assert mg1_mean_wait_s(50, 100, 4.0) == pytest.approx(5 * mg1_mean_wait_s(50, 100, 0.0))


def test_queue_wait_is_unbounded_at_full_utilization() -> None:
    assert mg1_mean_wait_s(100, 100) is None


def test_fleet_sizes_each_viable_choice_from_its_measured_throughput(farm: Store) -> None:
    plan = size_fleet(farm, RankRequest(constraints=Constraints(latency_ms=50)), qps=1000)
    by_device = {o.choice.device: o for o in plan.options}
    pi = by_device["pi"]
    assert pi.devices == devices_needed(1000, pi.choice.throughput_ips or 0, 0.7)
    assert pi.utilization <= 0.7


def test_cloud_fleet_costs_instances_times_hours(farm: Store) -> None:
    plan = size_fleet(farm, RankRequest(constraints=Constraints(latency_ms=50)), qps=1000)
    cloud = next(o for o in plan.options if o.choice.device == "cloud")
    assert cloud.monthly.usd == pytest.approx(cloud.devices * 1.0 * HOURS_PER_MONTH)


def test_fleet_power_draw_is_devices_times_measured_power(farm: Store) -> None:
    plan = size_fleet(farm, RankRequest(constraints=Constraints(latency_ms=50)), qps=1000)
    pi = next(o for o in plan.options if o.choice.device == "pi")
    assert pi.power_w == pytest.approx(pi.devices * 5.0)


def test_fleet_without_cost_data_shows_unknown_monthly_cost_last(farm: Store) -> None:
    plan = size_fleet(farm, RankRequest(constraints=Constraints(latency_ms=50)), qps=1000)
    assert plan.options[-1].choice.device == "lab"
    assert plan.options[-1].monthly.usd is None


def test_fleet_only_sizes_choices_meeting_the_latency_target(farm: Store) -> None:
    plan = size_fleet(farm, RankRequest(constraints=Constraints(latency_ms=5)), qps=1000)
    assert "pi" not in {o.choice.device for o in plan.options}


def test_fleet_output_states_the_queueing_assumption(farm: Store) -> None:
    out = cli(farm, "fleet", "--qps", "1000", "--latency-ms", "50").output
    assert "assumption: estimated" in out
    assert "capacity per device = measured single-stream throughput" in out
    assert "excludes queueing" in out and "M/G/1" in out


def test_fleet_json_has_devices_monthly_cost_and_power(farm: Store) -> None:
    data = json.loads(
        cli(farm, "fleet", "--qps", "1000", "--latency-ms", "50", "-f", "json").output
    )
    pi = next(o for o in data["options"] if o["device"] == "pi")
    assert pi["devices"] >= 1 and pi["monthly_usd"] > 0 and pi["power_w"] > 0
    assert data["headroom"] == 0.7


def test_fleet_with_no_viable_choice_exits_1_and_says_why(farm: Store) -> None:
    res = cli(farm, "fleet", "--qps", "10", "--latency-ms", "0.001")
    assert res.exit_code == 1
    assert "no viable choice" in res.output
    assert "latency excluded 3:" in res.output


def test_fleet_on_an_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    res = cli(new_store(tmp_path), "fleet", "--qps", "10", "--latency-ms", "10")
    assert res.exit_code == EXIT_ERROR
    assert "the store holds no run yet" in res.output
