"""Nightly verdicts on pairs: synthetic nights in a real store, synthetic paired rounds.

The rounds are made up here (their measurement is tested end to end in test_nightly_e2e and
test_compare_e2e); what is tested is what the nightly concludes from them: the verdict rests on
the pair, the history is only context, an A/A pair is a noise check, a noisy device gets "not
enough evidence" (exit 2) and never a regression, and a regression stays reported until it is
fixed or accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rigbench.controller.baseline import history, nights_of_run, select_baseline
from rigbench.controller.compare.paired import paired_verdict
from rigbench.controller.compare.runner import PairOutcome, PairPlan, RoundResult
from rigbench.controller.compare.subjects import subject_from_job
from rigbench.controller.inventory import Device
from rigbench.controller.nightly.canary import SpeedPolicy, canary_speed
from rigbench.controller.nightly.evaluate import (
    DeviceHealth,
    NightlyReport,
    decide_night,
    prepare_night,
)
from rigbench.controller.nightly.pairs import latency_from_pair, pair_reference, plan_pair
from rigbench.controller.nightly.verdicts import Outcome, Verdict
from rigbench.controller.store import Store
from tests.builders.nightly import History, Series

DEVICE = Device(name="pi5-01", device_class="rpi", local={})
KEY = Series().key


def rounds(ratios: list[float], a_ns: float = 2e6) -> list[RoundResult]:
    return [
        RoundResult(i + 1, ("A", "B") if i % 2 else ("B", "A"), a_ns, a_ns * r)
        for i, r in enumerate(ratios)
    ]


def outcome(plan: PairPlan, ratios: list[float], noisy: str | None = None) -> PairOutcome:
    return PairOutcome(plan, rounds(ratios), paired_verdict(ratios), noisy=noisy)


def week(tmp_path: Path, tonight: Series | None = None) -> tuple[Store, str, str]:
    """Seven quiet nights and tonight; returns the store, the last baseline night and tonight."""
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    last = ""
    for _ in range(7):
        last = h.night([Series(iterations=200)])
    return store, last, h.night([tonight or Series(iterations=200)])


def pair_for(store: Store, baseline_run: str, tonight_run: str) -> PairPlan:
    night = nights_of_run(store, tonight_run)[KEY]
    ref = nights_of_run(store, baseline_run)[KEY]
    return plan_pair(store, DEVICE, night, ref)


def latency(report: NightlyReport) -> Verdict:
    (c,) = [c for c in report.comparisons if c.metric == "latency_p50"]
    assert c.verdict is not None
    return c.verdict


SLOWER = [1.061, 1.058, 1.065, 1.06, 1.057, 1.063, 1.059, 1.062, 1.06, 1.064]
SAME = [1.001, 0.999, 1.002, 0.998, 1.0, 1.001, 0.999, 1.0, 1.002, 0.9995]
NOISY = [0.8, 1.25, 0.95, 1.1, 0.85, 1.2, 1.02, 0.9, 1.15, 1.0]


# --- the verdict rests on the pair ---------------------------------------------------------------


def test_a_slower_pair_is_a_regression_though_the_history_sees_nothing(tmp_path: Path):
    store, last, tonight = week(tmp_path, Series(iterations=200, model_version="v2"))
    pair = pair_for(store, last, tonight)
    report = decide_night(prepare_night(store, tonight), {KEY: outcome(pair, SLOWER)}, "pr-1")
    v = latency(report)
    assert v.outcome is Outcome.REGRESSION and v.basis == "paired" and v.rounds == 10
    assert v.history_outcome == "no change"  # context: the history alone missed it
    assert report.exit_code == 1 and report.pairs_run_id == "pr-1"
    (c,) = [c for c in report.comparisons if c.metric == "latency_p50"]
    assert c.baseline_runs == [last]


def test_a_same_pair_clears_what_the_history_would_flag(tmp_path: Path):
    # Tonight's history median is 30 % off (a busy neighbour), the pair measured both sides
    # under it: no change.
    store, last, tonight = week(tmp_path, Series(iterations=200, slowdown=1.3, model_version="v2"))
    pair = pair_for(store, last, tonight)
    report = decide_night(prepare_night(store, tonight), {KEY: outcome(pair, SAME)})
    v = latency(report)
    assert v.outcome is Outcome.NO_CHANGE and v.history_outcome == "regression"
    assert report.exit_code == 0


def test_an_undecided_pair_is_not_enough_evidence_and_exit_2(tmp_path: Path):
    store, last, tonight = week(tmp_path, Series(iterations=200, model_version="v2"))
    pair = pair_for(store, last, tonight)
    noisy = "device pi5-01 too noisy to decide after 30 rounds: load average up to 9.0"
    report = decide_night(prepare_night(store, tonight), {KEY: outcome(pair, NOISY, noisy)})
    v = latency(report)
    assert v.outcome is Outcome.NOT_ENOUGH_EVIDENCE and "pi5-01 too noisy" in v.reason
    assert report.exit_code == 2 and not report.regressions


# --- where nothing changed, the pair is an A/A check ----------------------------------------------


def test_an_unchanged_artifact_is_an_a_a_check(tmp_path: Path):
    store, last, tonight = week(tmp_path)
    pair = pair_for(store, last, tonight)
    v = latency(decide_night(prepare_night(store, tonight), {KEY: outcome(pair, SAME)}))
    assert v.outcome is Outcome.NO_CHANGE and v.basis == "A/A"
    assert v.reason.startswith("A/A check")


def test_an_a_a_pair_that_tells_the_same_artifact_apart_is_not_a_regression(tmp_path: Path):
    store, last, tonight = week(tmp_path)
    pair = pair_for(store, last, tonight)
    report = decide_night(prepare_night(store, tonight), {KEY: outcome(pair, SLOWER)})
    v = latency(report)
    assert v.outcome is Outcome.NOT_ENOUGH_EVIDENCE and "not measuring consistently" in v.reason
    assert report.exit_code == 2


# --- a noisy device -------------------------------------------------------------------------------


def test_a_noisy_device_gets_not_enough_evidence_never_a_regression(tmp_path: Path):
    store, _, tonight = week(tmp_path, Series(iterations=200, slowdown=1.5))
    why = "the canary ran 80% slower than the median of its last 7 nights"
    health = {"pi5-01": DeviceHealth("pi5-01", True, "canary passed", noisy=why)}
    report = decide_night(prepare_night(store, tonight, health=health))
    v = latency(report)
    assert v.outcome is Outcome.NOT_ENOUGH_EVIDENCE and why in v.reason
    assert v.history_outcome == "regression"
    (state,) = report.devices
    assert (state.state, state.message) == ("noisy", why)
    assert report.exit_code == 2 and not report.regressions


def test_a_noisy_device_is_not_paired(tmp_path: Path):
    store, _, tonight = week(tmp_path)
    health = {"pi5-01": DeviceHealth("pi5-01", True, noisy="steal")}
    assert prepare_night(store, tonight, health=health).pair_references() == {}
    assert list(prepare_night(store, tonight).pair_references()) == [KEY]


def canary_history(tmp_path: Path, slowdown: float, nights: int = 5) -> tuple[Store, str]:
    store = Store(tmp_path / "s.duckdb")
    h = History(store, plan="nightly.canary")
    for _ in range(nights):
        h.night([Series(iterations=200)], kind="canary")
    return store, h.night([Series(iterations=200, slowdown=slowdown)], kind="canary")


def test_a_canary_much_slower_than_its_history_makes_the_device_noisy(tmp_path: Path):
    store, tonight = canary_history(tmp_path, slowdown=1.8)
    (why,) = canary_speed(store, tonight, ["pi5-01"]).values()
    assert "slower than the median of its last 5 nights" in why


def test_a_canary_within_its_slack_is_fine(tmp_path: Path):
    store, tonight = canary_history(tmp_path, slowdown=1.2)
    assert canary_speed(store, tonight, ["pi5-01"]) == {}
    assert canary_speed(store, tonight, ["pi5-01"], SpeedPolicy(slack=0.1)) != {}


def test_a_canary_with_too_short_a_history_is_not_judged(tmp_path: Path):
    store, tonight = canary_history(tmp_path, slowdown=3.0, nights=2)
    assert canary_speed(store, tonight, ["pi5-01"]) == {}


# --- which baseline night a pair uses -------------------------------------------------------------


def baseline_of(store: Store, tonight: str):
    night = nights_of_run(store, tonight)[KEY]
    past = history(store, "nightly", night.started_at, tonight, 60)[KEY]
    return select_baseline(night, past, k=7)


def test_the_pair_uses_the_newest_night_not_reported_as_a_regression(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    good = h.night([Series(iterations=50)])
    bad = h.night([Series(iterations=50, model_version="v2")])
    tonight = h.night([Series(iterations=50, model_version="v2")])
    b = baseline_of(store, tonight)
    assert pair_reference(b, frozenset(), frozenset()).run_id == bad  # type: ignore[union-attr]
    ref = pair_reference(b, frozenset({bad}), frozenset())
    assert ref is not None and ref.run_id == good  # the regression stays reported
    accepted = pair_reference(b, frozenset({bad}), frozenset({bad}))
    assert accepted is not None and accepted.run_id == bad


def test_a_pair_takes_tonights_runtime_and_inputs_and_the_baseline_nights_artifact(
    tmp_path: Path,
):
    store, last, tonight = week(tmp_path, Series(iterations=200, model_version="v2"))
    pair = pair_for(store, last, tonight)
    assert pair.a.stored is not None and pair.b.stored is not None
    assert pair.a.stored.variants[0].sha256 != pair.b.stored.variants[0].sha256
    assert pair.a.runtime == pair.b.runtime and pair.baseline_run == last
    assert pair.key == KEY and pair.scenario == "single-stream"


def test_a_pair_whose_rounds_were_lost_is_not_enough_evidence(tmp_path: Path):
    store, last, tonight = week(tmp_path)
    o = PairOutcome(pair_for(store, last, tonight), problems=["device pi5-01: unreachable"])
    v = latency_from_pair(o, Verdict(Outcome.NO_CHANGE), same_artifact=False)
    assert v.outcome is Outcome.NOT_ENOUGH_EVIDENCE and "unreachable" in v.reason


def test_a_stored_job_becomes_a_subject_with_its_artifact(tmp_path: Path):
    store, last, _ = week(tmp_path)
    job_id = nights_of_run(store, last)[KEY].job_id
    s = subject_from_job(store, "A", job_id, "x")
    assert s.stored is not None and s.runtime.threads == 1 and s.variant == "fp32"
    with pytest.raises(Exception, match="no stored result"):
        subject_from_job(store, "A", "nope", "x")
