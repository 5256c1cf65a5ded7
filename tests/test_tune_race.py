"""The tune race on seeded synthetic spaces, where the truth is known (docs/tune.md).

The race may only drop a configuration once its interval says it cannot be the best, so on
every seeded space it never drops the truly best one, its recommendation is within 5% of the
true best, it never spends more than its budget, and a resumed race rebuilds the same state.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rigbench.controller.tune import synthetic as syn
from rigbench.controller.tune.config import Config
from rigbench.controller.tune.evidence import (
    Trial,
    latency_objective,
    per_inference_objective,
    pool,
)
from rigbench.controller.tune.quantile import quantile_interval
from rigbench.controller.tune.race import (
    Constraints,
    PruneKind,
    Race,
    RaceOutcome,
    TrialRequest,
    spread,
)

NONE = Constraints()


def true_best(space: dict[Config, syn.Truth]) -> Config:
    return min(space, key=lambda c: space[c].median_ms)


def race_on(
    space: dict[Config, syn.Truth],
    budget_s: float,
    seed: int = 0,
    constraints: Constraints = NONE,
) -> tuple[RaceOutcome, list[TrialRequest]]:
    race = Race(list(space), budget_s, latency_objective(), constraints)
    rng = np.random.default_rng(seed)
    asked = []
    while (request := race.next_trial()) is not None:
        asked.append(request)
        race.tell(syn.simulate(request, space[request.config], rng))
    return race.outcome(), asked


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_race_never_drops_the_truly_best_configuration(seed: int) -> None:
    space = syn.synthetic_space(seed, n=16)
    out, _ = race_on(space, budget_s=80.0, seed=seed)
    best = true_best(space)
    assert out.entry(best).pruned is None, out.entry(best).pruned
    assert out.recommended is not None
    chosen = space[out.recommended.config].median_ms
    assert chosen <= space[best].median_ms * 1.05


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), budget_s=st.floats(0.5, 150.0))
@example(seed=6877, budget_s=80.0)  # each once ended 5-8 ms past the budget: the simulated
@example(seed=171, budget_s=62.0)  # loop ran a fixed count of iterations, not to its deadline
def test_the_budget_is_never_overspent(seed: int, budget_s: float) -> None:
    space = syn.synthetic_space(seed, n=10)
    out, asked = race_on(space, budget_s=budget_s, seed=seed)
    # A trial ends at the first iteration boundary after its deadline (an inference is never
    # cut short), so the budget is kept to within one iteration of the last trial.
    last = out.entry(asked[-1].config).trials[-1] if asked else None
    one_iteration_s = (
        float(last.latencies_ns.max()) / 1e9
        if last is not None and last.latencies_ns is not None
        else 0.0
    )
    assert out.spent_s <= budget_s + one_iteration_s + 1e-9
    # Every trial was asked to end by the budget's end.
    spent = 0.0
    for request in asked:
        assert request.deadline_s == pytest.approx(budget_s - spent)
        spent += (
            out.entry(request.config)
            .trials[[t.rung for t in out.entry(request.config).trials].index(request.rung)]
            .cost_s
        )


def test_a_budget_too_small_for_any_trial_measures_nothing_and_says_so() -> None:
    space = syn.synthetic_space(1, n=5, overhead_s=5.0)
    out, asked = race_on(space, budget_s=2.0)
    assert asked == [] and out.spent_s == 0.0
    assert out.recommended is None
    assert out.stop_reason == "the budget is spent"
    assert out.why_none == "no configuration was measured"


def test_short_measurements_first_then_longer_ones_for_fewer_contenders() -> None:
    space = syn.synthetic_space(3, n=24)
    out, _ = race_on(space, budget_s=120.0, seed=3)
    durations = [r.duration_s for r in out.rungs]
    assert durations == sorted(durations) and durations[-1] > durations[0]
    measured = [r.measured for r in out.rungs]
    assert measured[0] == 24 and all(m < 24 for m in measured[1:])


def test_a_budget_too_small_for_every_first_trial_still_reaches_every_variant() -> None:
    space = syn.synthetic_space(4, n=24)  # 4 variants x 6 thread counts
    out, asked = race_on(space, budget_s=20.0, seed=4)
    assert 4 <= len(asked) < 24
    assert {r.config.variant for r in asked[:4]} == {"v0", "v1", "v2", "v3"}
    assert sorted(spread(list(space))) == sorted(space)


def test_a_dominated_configuration_is_dropped_on_its_interval_not_its_point() -> None:
    space = syn.synthetic_space(5, n=20)
    out, _ = race_on(space, budget_s=100.0, seed=5)
    dominated = [e for e in out.entries if e.pruned and e.pruned.kind is PruneKind.dominated]
    assert dominated
    for e in dominated:
        assert "above" in e.pruned.detail  # type: ignore[union-attr]
        # Far slower configurations go at the first rung.
        if space[e.config].median_ms > 2.0:
            assert e.pruned.rung == 0  # type: ignore[union-attr]


def test_a_failing_configuration_leaves_the_race_at_once_and_the_rest_go_on() -> None:
    space = syn.synthetic_space(2, n=8)
    broken = true_best(space)
    space[broken] = replace(space[broken], failure="ModelLoadError: unsupported op")
    out, asked = race_on(space, budget_s=60.0, seed=2)
    e = out.entry(broken)
    assert e.pruned is not None and e.pruned.kind is PruneKind.failed
    assert "unsupported op" in e.pruned.detail
    assert [r.config for r in asked].count(broken) == 1
    assert out.recommended is not None and out.recommended.config != broken


def test_accuracy_is_measured_once_per_variant_and_prunes_every_configuration_of_it() -> None:
    space = syn.synthetic_space(7, n=16)
    for c in space:
        if c.variant == "v1":
            space[c] = replace(space[c], error=0.5)
    out, asked = race_on(space, budget_s=80.0, seed=7, constraints=Constraints(max_error=0.01))
    asks = [r.config.variant for r in asked if r.accuracy]
    assert sorted(asks) == sorted(set(asks)) == ["v0", "v1", "v2", "v3"]
    v1 = [e for e in out.entries if e.config.variant == "v1"]
    assert all(e.pruned and e.pruned.kind is PruneKind.accuracy for e in v1)
    assert "0.5 > 0.01" in v1[0].pruned.detail  # type: ignore[union-attr]
    # Only the one trial that measured it was spent on v1.
    assert sum(1 for r in asked if r.config.variant == "v1") == 1
    assert out.recommended is not None and out.recommended.config.variant != "v1"


def test_when_the_trial_measuring_accuracy_fails_the_next_of_its_kernels_measures_it() -> None:
    space = syn.synthetic_space(9, n=8)
    v0 = sorted(c for c in space if c.variant == "v0")
    space[v0[0]] = replace(space[v0[0]], failure="InternalError: reference outputs")
    out, asked = race_on(space, budget_s=60.0, seed=9, constraints=Constraints(max_error=0.01))
    askers = [r.config for r in asked if r.accuracy and r.config.variant == "v0"]
    assert askers[0] == v0[0] and len(askers) == 2
    assert out.accuracy["v0"].error is not None
    assert out.entry(v0[1]).pruned is None or out.entry(v0[1]).pruned.kind is not PruneKind.accuracy


def test_unknown_accuracy_cannot_meet_a_max_error() -> None:
    space = syn.synthetic_space(8, n=8)
    space = {c: replace(t, error=None) for c, t in space.items()}
    out, _ = race_on(space, budget_s=40.0, constraints=Constraints(max_error=0.01))
    assert out.recommended is None
    assert all(e.pruned and "accuracy unknown" in e.pruned.detail for e in out.entries)


def test_a_latency_bound_prunes_what_surely_breaks_it_and_the_choice_meets_it() -> None:
    space = syn.synthetic_space(11, n=16)
    fast = true_best(space)
    # The fastest median has a heavy tail: its p99 breaks the bound.
    space[fast] = replace(space[fast], sigma=0.8)
    bound = Constraints(latency_ms=2.0, percentile=99.0)
    out, _ = race_on(space, budget_s=120.0, seed=11, constraints=bound)
    assert space[fast].percentile_ms(99) > 2.0
    e = out.entry(fast)
    assert e.pruned is not None and e.pruned.kind is PruneKind.latency
    assert "p99 at least" in e.pruned.detail
    assert out.recommended is not None
    assert space[out.recommended.config].percentile_ms(99) <= 2.0 * 1.05


def test_the_recommendation_names_every_configuration_its_interval_cannot_separate() -> None:
    # Two configurations 0.5% apart: closer than job-to-job noise, never "the best" alone.
    a = Config("v0", "synthetic", "cpu", 1)
    b = Config("v0", "synthetic", "cpu", 2)
    c = Config("v0", "synthetic", "cpu", 3)
    space = {a: syn.Truth(1.0), b: syn.Truth(1.005), c: syn.Truth(3.0)}
    out, _ = race_on(space, budget_s=60.0)
    assert out.recommended is not None
    assert {out.recommended.config, *(t.config for t in out.ties)} == {a, b}
    assert out.entry(c).pruned is not None


def test_energy_objective_ranks_by_joules_per_inference() -> None:
    a = Config("v0", "synthetic", "cpu", 1)  # faster but power-hungry
    b = Config("v0", "synthetic", "cpu", 2)
    space = {a: syn.Truth(1.0, power_w=20.0), b: syn.Truth(1.5, power_w=5.0)}
    energy = per_inference_objective("energy", "J", lambda ev: ev.power_w)
    race = Race(list(space), 30.0, energy)
    out = syn.run(race, space, np.random.default_rng(0))
    assert out.recommended is not None and out.recommended.config == b
    assert out.recommended.interval is not None
    assert out.recommended.interval.point == pytest.approx(5.0 * 1.5e-3, rel=0.05)


def deterministic(request: TrialRequest, space: dict[Config, syn.Truth]) -> Trial:
    """A trial that depends only on what was asked: a resumed race sees the same figures."""
    digest = hashlib.sha256(f"{request.config.key}/{request.rung}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return syn.simulate(request, space[request.config], rng)


def test_an_interrupted_race_resumes_from_its_stored_trials_to_the_same_end() -> None:
    space = syn.synthetic_space(13, n=12)
    whole = Race(list(space), 70.0, latency_objective())
    stored: list[Trial] = []
    while (request := whole.next_trial()) is not None:
        stored.append(deterministic(request, space))
        whole.tell(stored[-1])
    first = whole.outcome()
    # Interrupted after 15 trials; a new race replays them, then measures the rest.
    resumed = Race(list(space), 70.0, latency_objective())
    replay = iter(stored[:15])
    replayed = 0
    while (request := resumed.next_trial()) is not None:
        trial = next(replay, None)
        if trial is not None:
            assert (trial.config, trial.rung) == (request.config, request.rung)
            replayed += 1
        else:
            trial = deterministic(request, space)
        resumed.tell(trial)
    second = resumed.outcome()
    assert replayed == 15
    assert second.spent_s == pytest.approx(first.spent_s)
    assert [(e.config, e.pruned) for e in second.entries] == [
        (e.config, e.pruned) for e in first.entries
    ]
    assert second.recommended is not None and first.recommended is not None
    assert second.recommended.config == first.recommended.config


def test_a_configuration_listed_twice_is_refused() -> None:
    c = Config("v0", "synthetic")
    with pytest.raises(ValueError, match="twice"):
        Race([c, c], 10.0, latency_objective())


def test_config_names_are_plan_entry_names() -> None:
    c = Config("fp32", "onnxruntime", "cpu", 2, (("graph_optimization", "all"),))
    assert c.name == "onnxruntime-cpu-t2-graph_optimization-all"
    assert c.key == "fp32/onnxruntime-cpu-t2-graph_optimization-all/single-stream"
    assert Config("fp32", "litert", load=(("batch", 8), ("concurrency", 2))).scenario == "b8-c2"


# --- the latency percentile's interval ----------------------------------------------------------


def coverage(phi: float, q: float, runs: int = 150, n: int = 3000) -> float:
    rng = np.random.default_rng(42)
    truth = float(np.exp(0.2 * _normal_quantile(q)))
    hits = 0
    for _ in range(runs):
        x = np.exp(0.2 * syn._ar1(n, phi, rng))
        qi = quantile_interval(x, q)
        assert qi is not None
        hits += qi.low <= truth <= qi.high
    return hits / runs


def _normal_quantile(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_a_percentile_interval_covers_the_true_percentile_even_when_iterations_remember(
    phi: float,
) -> None:
    assert coverage(phi, 0.9) >= 0.88


def test_an_independence_assuming_interval_would_not_have_covered_it() -> None:
    """The reason for the autocorrelation time: without it, coverage on phi=0.8 collapses."""
    rng = np.random.default_rng(1)
    truth = float(np.exp(0.2 * _normal_quantile(0.9)))
    naive_hits = 0
    for _ in range(150):
        x = np.exp(0.2 * syn._ar1(3000, 0.8, rng))
        n = x.size
        half = 1.96 * math.sqrt(n * 0.9 * 0.1)
        s = np.sort(x)
        lo, hi = s[math.floor(n * 0.9 - half) - 1], s[math.ceil(n * 0.9 + half)]
        naive_hits += lo <= truth <= hi
    assert naive_hits / 150 < 0.8


def test_a_p99_from_too_few_iterations_has_no_upper_bound() -> None:
    qi = quantile_interval(np.arange(1.0, 101.0), 0.99)
    assert qi is not None and qi.high_clipped and not qi.low_clipped
    assert quantile_interval(np.arange(5.0), 0.5) is None


def test_an_objective_interval_never_reaches_below_zero() -> None:
    c = Config("v0", "synthetic")
    rng = np.random.default_rng(3)
    # A level jumping between 0.1 and 10 ms: the median's own interval already reaches 0.
    levels = np.repeat(np.tile([1e5, 1e7], 5), 40) * np.exp(rng.normal(0.0, 0.05, 400))
    ev = pool([Trial(c, 0, 1.0, 1.0, latencies_ns=levels)], 0.999, None)
    assert ev is not None and ev.median is not None and ev.median.low == 0.0
    assert ev is not None
    iv = latency_objective().interval(ev, 0.02)
    assert iv is not None and 0.0 <= iv.lo <= iv.point <= iv.hi
