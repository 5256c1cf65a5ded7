"""`rigbench rank` on real DuckDB stores: order, ties, Pareto front, constraints, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from rigbench.controller.cli import app
from rigbench.controller.cli.common import EXIT_ERROR
from rigbench.controller.ranking import Constraints, RankBy, RankRequest, rank
from rigbench.controller.store import Store
from rigbench.stats import quantile_ci_ranks
from tests.builders.ranking import (
    CLOUD_COST,
    NAMEPLATE_COST,
    PI_COST,
    RunBuilder,
    lognormal_ns,
    new_store,
)


def cli(store: Store, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--store", str(store.path)])


def table_row(out: str, device: str) -> list[str]:
    """The cells of the ranking table row of ``device`` (rank, [front], device, ...)."""
    return next(line.split() for line in out.splitlines() if device in line.split()[:3])


@pytest.fixture
def three(tmp_path: Path) -> Store:
    """A cheap slow Pi, a fast expensive cloud box, and a device without cost data."""
    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST).device("cloud", CLOUD_COST).device("lab")
    b.result("pi", "int8", lognormal_ns(8.0, seed=1), power_mw=5000, energy_source="rpi:total")
    b.result("cloud", "fp32", lognormal_ns(1.0, seed=2))
    b.result("lab", "fp32", lognormal_ns(2.0, seed=3))
    b.finish()
    return store


def test_cheapest_choice_ranks_first(three: Store) -> None:
    r = rank(three, RankRequest())
    assert [c.device for c in r.ranked][:2] == ["pi", "cloud"]
    assert r.ranked[0].rank == 1


def test_unknown_cost_is_listed_unranked_after_priced_choices(three: Store) -> None:
    r = rank(three, RankRequest())
    last = r.ranked[-1]
    assert (last.device, last.rank, last.cost.usd_per_million) == ("lab", None, None)


def test_unknown_cost_prints_as_unknown_never_zero(three: Store) -> None:
    out = cli(three, "rank").output
    assert "unknown" in table_row(out, "lab")
    assert "no cost in the inventory for this device" in out


def test_choices_within_noise_are_ties(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST).device("b", CLOUD_COST)
    b.result("a", "fp32", lognormal_ns(2.0, n=300, sigma=0.3, seed=1))
    b.result("b", "fp32", lognormal_ns(2.0, n=300, sigma=0.3, seed=2))
    b.finish()
    r = rank(store, RankRequest())
    assert [(c.rank, c.tied) for c in r.ranked] == [(1, True), (1, True)]


def test_clearly_different_choices_are_not_ties(three: Store) -> None:
    r = rank(three, RankRequest())
    assert not any(c.tied for c in r.ranked)


def test_latency_interval_is_the_order_statistic_of_the_stored_samples(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    lat = lognormal_ns(3.0, n=5000, sigma=0.4, seed=9)
    RunBuilder(store).device("a", CLOUD_COST).result("a", "fp32", lat)
    r = rank(store, RankRequest(constraints=Constraints(percentile=90)))
    lo, hi = quantile_ci_ranks(lat.size, 0.9)
    ordered = np.sort(lat)
    ci = r.ranked[0].latency_ms
    assert ci is not None
    assert (ci.lo, ci.hi) == pytest.approx((ordered[lo - 1] / 1e6, ordered[hi - 1] / 1e6))


def test_pareto_front_holds_the_cheap_slow_and_the_fast_expensive_choice(three: Store) -> None:
    r = rank(three, RankRequest())
    assert {c.device for c in r.pareto} == {"pi", "cloud"}


def test_dominated_choice_is_off_the_pareto_front(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "fast", lognormal_ns(1.0, seed=1))
    b.result("a", "slow", lognormal_ns(5.0, seed=2))  # slower and, per inference, dearer
    r = rank(store, RankRequest())
    assert [(c.variant, c.pareto) for c in r.ranked] == [("fast", True), ("slow", False)]


def test_latency_target_excludes_with_the_figures(three: Store) -> None:
    r = rank(three, RankRequest(constraints=Constraints(latency_ms=5.0, percentile=99)))
    (pi,) = [c for c in r.excluded if c.device == "pi"]
    assert pi.exclusions[0].constraint == "latency"
    assert pi.exclusions[0].detail.startswith("p99 ") and "> 5 ms" in pi.exclusions[0].detail


def test_nothing_qualifying_exits_1_naming_each_constraint_and_choice(three: Store) -> None:
    res = cli(three, "rank", "--latency-ms", "0.01", "--max-memory-mb", "1")
    assert res.exit_code == 1
    assert "no choice meets the constraints" in res.output
    assert "latency excluded 3:" in res.output
    assert "memory excluded 3:" in res.output
    assert "pi / int8 / ort-cpu: p99" in res.output


def test_max_error_uses_the_overall_accuracy_row(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "fp32", lognormal_ns(2.0, seed=1), max_abs_err=0.0)
    b.result("a", "int8", lognormal_ns(1.0, seed=2), max_abs_err=0.2)
    r = rank(store, RankRequest(constraints=Constraints(max_error=0.05)))
    assert [c.variant for c in r.ranked] == ["fp32"]
    assert r.excluded[0].exclusions[0].detail == "max abs error 0.2 > 0.05"


def test_max_error_excludes_a_choice_without_accuracy_data(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    RunBuilder(store).device("a", CLOUD_COST).result("a", "fp32", lognormal_ns(2.0))
    r = rank(store, RankRequest(constraints=Constraints(max_error=0.05)))
    assert r.excluded[0].exclusions[0].detail == "accuracy not measured"


def test_choice_outside_the_plan_tolerance_is_excluded(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "int8", lognormal_ns(1.0), max_abs_err=0.9, within_tolerance=False)
    r = rank(store, RankRequest())
    assert r.excluded[0].exclusions[0].detail.startswith("outside the plan's tolerance")


def test_memory_limit_excludes_by_peak_rss(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "small", lognormal_ns(2.0, seed=1), peak_rss_mb=40)
    b.result("a", "big", lognormal_ns(1.0, seed=2), peak_rss_mb=400)
    r = rank(store, RankRequest(constraints=Constraints(max_memory_mb=100)))
    assert [c.variant for c in r.ranked] == ["small"]


def test_no_throttling_excludes_throttled_and_keeps_devices_without_a_sensor(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("hot", CLOUD_COST).device("cool", CLOUD_COST)
    b.device("blind", CLOUD_COST)
    b.result("hot", "fp32", lognormal_ns(1.0, seed=1), throttled=True)
    b.result("cool", "fp32", lognormal_ns(1.0, seed=2), throttled=False)
    b.result("blind", "fp32", lognormal_ns(1.0, seed=3), throttled=None)
    r = rank(store, RankRequest(constraints=Constraints(no_throttling=True)))
    assert sorted(c.device for c in r.ranked) == ["blind", "cool"]
    assert r.excluded[0].exclusions[0].detail == "throttled (soft temp limit)"


def test_latency_target_applies_at_batch_one(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "fp32", lognormal_ns(1.0), batch_size=8)
    r = rank(store, RankRequest(constraints=Constraints(latency_ms=100)))
    assert "the latency target applies at batch 1" in r.excluded[0].exclusions[0].detail


def test_rank_by_latency_orders_by_the_percentile(three: Store) -> None:
    r = rank(three, RankRequest(by=RankBy.latency))
    assert [c.device for c in r.ranked] == ["cloud", "lab", "pi"]


def test_rank_by_energy_lists_choices_without_power_last(three: Store) -> None:
    r = rank(three, RankRequest(by=RankBy.energy))
    assert r.ranked[0].device == "pi"
    assert [c.rank for c in r.ranked[1:]] == [None, None]


def test_nameplate_power_is_labelled_estimated_in_the_table(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    RunBuilder(store).device("nuc", NAMEPLATE_COST).result("nuc", "fp32", lognormal_ns(2.0))
    out = cli(store, "rank").output
    assert "28.0 est." in out
    assert "estimated: power (nameplate 28 W)" in out


def test_simulated_telemetry_is_labelled_simulated_in_the_table(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi-sim", PI_COST, simulated=True)
    b.result("pi-sim", "fp32", lognormal_ns(2.0), power_mw=6000, simulated=True)
    out = cli(store, "rank").output
    assert "6.00 sim." in out
    assert "simulated: power" in out
    assert "simulated, not measured" in out


def test_an_emulated_device_is_not_priced_unless_allowed(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST).device("pi-emu", PI_COST, emulated=True)
    b.result("pi", "fp32", lognormal_ns(2.0), power_mw=5000)
    b.result("pi-emu", "fp32", lognormal_ns(0.5), power_mw=5000)  # emulated: means nothing
    refused = cli(store, "rank")
    assert refused.exit_code == 0 and table_row(refused.output, "pi")[0] == "1"
    (line,) = [ln for ln in refused.output.splitlines() if "pi-emu" in ln]
    assert "emulated" in line and "--allow-emulated" in line and "$" not in line
    fleet = cli(store, "fleet", "--qps", "10", "--latency-ms", "100", "--format", "json")
    assert [o["device"] for o in json.loads(fleet.output)["options"]] == ["pi"]
    allowed = cli(store, "rank", "--allow-emulated")
    assert table_row(allowed.output, "pi-emu")[2:4] == ["pi-emu", "(emulated)"]
    assert "not a real device's" in allowed.output
    data = json.loads(cli(store, "rank", "--allow-emulated", "--format", "json").output)
    assert {c["device"]: c["emulated"] for c in data["ranked"]} == {"pi": False, "pi-emu": True}


def test_json_names_measured_and_assumed_inputs(three: Store) -> None:
    data = json.loads(cli(three, "rank", "--format", "json").output)
    pi = next(c for c in data["ranked"] if c["device"] == "pi")
    assert pi["basis"]["measured"] == ["throughput", "power (rpi:total)"]
    assert pi["basis"]["assumed"][0] == "purchase $80 over 3 y"
    assert pi["usd_per_million_ci"]["ci_low"] < pi["usd_per_million"]


def test_markdown_has_a_table_and_the_pareto_front(three: Store) -> None:
    out = cli(three, "rank", "--format", "markdown", "--latency-ms", "5").output
    assert "| rank | front | device |" in out
    assert "**Pareto front**" in out
    assert "- latency excluded 1:" in out


def test_inventory_costs_override_the_recorded_ones(three: Store, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n  - {name: lab, class: x86, grpc: {address: '127.0.0.1:1'}, "
        "cost: {hourly_usd: 0.01}}\n"
    )
    out = cli(three, "rank", "--inventory", str(inv)).output
    assert table_row(out, "lab")[0] == "1"
    assert f"costs from {inv}" in out


def test_empty_store_says_to_run_something_first(tmp_path: Path) -> None:
    res = cli(new_store(tmp_path), "rank")
    assert res.exit_code == EXIT_ERROR
    assert "the store holds no run yet" in res.output


def test_missing_store_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.duckdb"
    res = CliRunner().invoke(app, ["rank", "--store", str(path)])
    assert res.exit_code == EXIT_ERROR
    assert f"no store at {path}" in res.output
    assert not path.exists()


def test_run_in_progress_is_ranked_with_a_warning(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("a", CLOUD_COST)
    b.result("a", "fp32", lognormal_ns(1.0))
    b.pending("a", "int8")
    out = cli(store, "rank", "--run", "run-1").output
    assert "run run-1 is still in progress (1 of 2 jobs done)" in out


def test_latest_finished_run_is_used_while_a_newer_one_runs(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    old = RunBuilder(store, "run-old").device("a", CLOUD_COST)
    old.result("a", "fp32", lognormal_ns(1.0))
    old.finish()
    new = RunBuilder(store, "run-new").device("a", CLOUD_COST)
    new.result("a", "fp32", lognormal_ns(1.0))
    r = rank(store, RankRequest())
    assert r.run.run_id == "run-old"
    assert "run run-new is still in progress" in r.notes[0]


def test_run_in_progress_without_results_is_a_clear_error(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    RunBuilder(store).device("a", CLOUD_COST).pending("a", "fp32")
    res = cli(store, "rank")
    assert res.exit_code == EXIT_ERROR
    assert "run-1 is still in progress (0 of 1 jobs done)" in res.output


def test_run_with_several_models_asks_which(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("d", CLOUD_COST)
    b.result("d", "fp32", lognormal_ns(1.0), model="a")
    b.result("d", "fp32", lognormal_ns(1.0), model="b")
    res = cli(store, "rank")
    assert res.exit_code == EXIT_ERROR
    assert "run run-1 has results for models a, b; choose one with --model" in res.output


def test_latency_interval_stays_exact_when_the_quantile_brackets_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rigbench.controller.store import ranking as source

    store = new_store(tmp_path)
    lat = lognormal_ns(3.0, n=3000, sigma=0.4, seed=4)
    RunBuilder(store).device("a", CLOUD_COST).result("a", "fp32", lat)
    # A quantile_disc with another rank rule: brackets land on the wrong samples.
    monkeypatch.setattr(source, "_disc_rank", lambda n, level: n - int((n - 1) * level))
    r = rank(store, RankRequest(constraints=Constraints(percentile=99)))
    lo, hi = quantile_ci_ranks(lat.size, 0.99)
    ordered = np.sort(lat)
    ci = r.ranked[0].latency_ms
    assert ci is not None
    assert (ci.lo, ci.hi) == pytest.approx((ordered[lo - 1] / 1e6, ordered[hi - 1] / 1e6))
