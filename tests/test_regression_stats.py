"""The nightly statistics, pure: distributions, rank test, bootstrap, noise floor, decisions.

The Monte Carlo tests measure the two numbers the issue asks for on synthetic nights shaped
like real ones (see ``latencies`` in test_nightly_history): the false-alarm rate on pure noise
over hundreds of seeds, and how often an injected 5 % slowdown is caught.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.controller.nightly.verdicts import (
    Outcome,
    Policy,
    bootstrap_medians,
    bootstrap_ratio_ci,
    compare_accuracy,
    compare_latency,
    compare_scalar,
    mann_whitney,
    noise_floor,
)
from rigbench.stats import t_ppf, t_sf
from tests.builders.nightly import latencies

# Student t quantiles from printed tables (two-sided 95 %/98 %/99 % columns).
T_TABLE = [
    (0.975, 1, 12.706),
    (0.99, 1, 31.821),
    (0.99, 5, 3.365),
    (0.95, 10, 1.812),
    (0.995, 30, 2.750),
]

samples = st.lists(st.integers(1, 50), min_size=1, max_size=40)


@pytest.mark.parametrize(("p", "df", "expected"), T_TABLE)
def test_t_quantiles_match_printed_tables(p: float, df: float, expected: float):
    assert t_ppf(p, df) == pytest.approx(expected, abs=1e-3)


@given(st.floats(0.5, 0.9999), st.floats(0.5, 200))
def test_t_quantile_inverts_the_survival_function(p: float, df: float):
    assert t_sf(t_ppf(p, df), df) == pytest.approx(1 - p, abs=1e-9)


@given(st.floats(0.01, 0.99), st.floats(0.5, 100))
@settings(max_examples=50, deadline=None)
def test_t_quantile_agrees_with_scipy(p: float, df: float):
    stats = pytest.importorskip("scipy.stats")
    assert t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-7, abs=1e-9)


@given(samples, samples)
@settings(max_examples=50, deadline=None)
def test_mann_whitney_agrees_with_scipy_on_tied_integers(x: list[int], y: list[int]):
    stats = pytest.importorskip("scipy.stats")
    if len(set(x + y)) < 2:
        return  # scipy returns nan when every value is equal; ours says "no evidence" (1.0)
    ref = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert mann_whitney(x, y).p_greater == pytest.approx(ref.pvalue, abs=1e-12)


@given(samples, samples)
def test_mann_whitney_one_sided_p_values_mirror_when_samples_swap(x: list[int], y: list[int]):
    a, b = mann_whitney(x, y), mann_whitney(y, x)
    assert a.p_greater == pytest.approx(b.p_less)
    assert a.u + b.u == pytest.approx(len(x) * len(y))


@given(samples, samples)
def test_mann_whitney_depends_on_ranks_only(x: list[int], y: list[int]):
    def f(v: list[int]) -> list[float]:
        return [math.log(i) * 3 + 7 for i in v]

    assert mann_whitney(f(x), f(y)).p_greater == pytest.approx(mann_whitney(x, y).p_greater)


def test_mann_whitney_of_identical_constants_is_no_evidence():
    r = mann_whitney([5, 5, 5], [5, 5])
    assert (r.p_greater, r.p_less) == (1.0, 1.0)


def test_fast_bootstrap_medians_match_resampling():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 0.3, 101)
    brute = np.median(x[rng.integers(0, x.size, (20_000, x.size))], axis=1)
    fast = bootstrap_medians(x, 20_000, np.random.default_rng(4))
    qs = [0.01, 0.1, 0.5, 0.9, 0.99]
    assert np.quantile(fast, qs) == pytest.approx(np.quantile(brute, qs), rel=0.01)


def test_bootstrap_ratio_ci_contains_the_true_ratio_of_a_shifted_copy():
    rng = np.random.default_rng(5)
    base = [rng.lognormal(0, 0.05, 1000) for _ in range(3)]
    tonight = rng.lognormal(0, 0.05, 1000) * 1.10
    lo, hi = bootstrap_ratio_ci(tonight, base, 0.98)
    assert lo < 1.10 < hi


def test_bootstrap_ratio_ci_is_deterministic_for_a_seed():
    rng = np.random.default_rng(6)
    t, b = rng.lognormal(0, 0.1, 500), [rng.lognormal(0, 0.1, 500)]
    assert bootstrap_ratio_ci(t, b, 0.98, seed=1) == bootstrap_ratio_ci(t, b, 0.98, seed=1)


@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=10), st.floats(0.01, 100))
def test_noise_floor_ignores_the_unit(medians: list[float], scale: float):
    a = noise_floor(medians, 0.02, 1.0)
    b = noise_floor([m * scale for m in medians], 0.02, 1.0)
    assert b.sd == pytest.approx(a.sd, rel=1e-6, abs=1e-12) and a.df == b.df


def test_noise_floor_with_one_night_is_the_prior():
    f = noise_floor([1.0], 0.02, 1.0)
    assert (f.sd, f.df) == (pytest.approx(0.02), 1.0)


def test_noise_floor_learns_a_noisy_history():
    noisy = noise_floor([1.0, 1.1, 0.9, 1.08, 0.93, 1.05, 0.95], 0.02, 1.0)
    assert noisy.sd > 0.05 and noisy.df == 7.0


def test_noise_floor_without_prior_or_history_is_infinite():
    assert math.isinf(noise_floor([1.0], 0.02, 0.0).sd)


def _night(seed: int, slowdown: float = 1.0, n: int = 2000, night_sd: float = 0.005):
    return latencies(np.random.default_rng(seed), 1e6 * slowdown, n, night_sd)


def test_large_slowdown_is_a_regression():
    base = [_night(s) for s in range(5)]
    v = compare_latency(_night(99, 1.2), base, [float(np.median(b)) for b in base], Policy())
    assert v.outcome is Outcome.REGRESSION and v.ratio == pytest.approx(1.2, rel=0.02)


def test_large_speedup_is_an_improvement():
    base = [_night(s) for s in range(5)]
    v = compare_latency(_night(99, 0.8), base, [float(np.median(b)) for b in base], Policy())
    assert v.outcome is Outcome.IMPROVEMENT


def test_change_below_the_minimum_effect_is_no_change():
    base = [_night(s, night_sd=0.0) for s in range(5)]
    tonight = _night(99, 1.02, night_sd=0.0)
    v = compare_latency(tonight, base, [float(np.median(b)) for b in base], Policy())
    assert v.outcome is Outcome.NO_CHANGE and "minimum effect" in v.reason


def test_change_within_a_noisy_history_is_no_change():
    base = [_night(s, night_sd=0.06) for s in range(7)]
    medians = [float(np.median(b)) for b in base]
    tonight = _night(99, 1.08, night_sd=0.0) * (np.median(medians) / 1e6)
    v = compare_latency(tonight, base, medians, Policy())
    assert v.outcome is Outcome.NO_CHANGE and "noise floor" in v.reason


def test_too_few_samples_tonight_is_not_enough_data():
    base = [_night(s) for s in range(3)]
    v = compare_latency(_night(9, n=10), base, [1e6] * 3, Policy())
    assert v.outcome is Outcome.NOT_ENOUGH_DATA


def test_no_baseline_night_is_not_enough_data():
    assert compare_latency(_night(9), [], [], Policy()).outcome is Outcome.NOT_ENOUGH_DATA


@given(st.floats(0.01, 1000.0))
@settings(max_examples=20, deadline=None)
def test_latency_verdict_ignores_the_unit(scale: float):
    base = [_night(s, n=300) for s in range(3)]
    tonight = _night(50, 1.15, n=300)
    meds = [float(np.median(b)) for b in base]
    a = compare_latency(tonight, base, meds, Policy())
    b = compare_latency(
        tonight * scale, [x * scale for x in base], [m * scale for m in meds], Policy()
    )
    assert a.outcome is b.outcome and b.ratio == pytest.approx(a.ratio)


@given(st.floats(1.0, 3.0))
@settings(max_examples=20, deadline=None)
def test_a_slower_night_than_a_regression_is_still_a_regression(extra: float):
    base = [_night(s, n=300) for s in range(5)]
    meds = [float(np.median(b)) for b in base]
    tonight = _night(77, 1.3, n=300)
    assert compare_latency(tonight, base, meds, Policy()).outcome is Outcome.REGRESSION
    worse = (tonight * extra).astype(np.int64)
    assert compare_latency(worse, base, meds, Policy()).outcome is Outcome.REGRESSION


def _false_alarm_rate(night_sd: float, k: int, alpha: float, seeds: int) -> float:
    policy = Policy(alpha=alpha)
    alarms = 0
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        base = [latencies(rng, 1e6, 500, night_sd) for _ in range(k)]
        tonight = latencies(rng, 1e6, 500, night_sd)
        v = compare_latency(tonight, base, [float(np.median(b)) for b in base], policy)
        alarms += v.outcome is Outcome.REGRESSION
    return alarms / seeds


@pytest.mark.parametrize(
    ("night_sd", "alpha"),
    [(0.01, 0.01), (0.02, 0.01), (0.02, 0.05)],
)
def test_false_alarm_rate_on_pure_noise_stays_under_alpha(night_sd: float, alpha: float):
    # 2 % night-to-night noise with alpha 0.05: the minimum effect (3 %) alone would flag
    # about 9 % of nights; the learned noise floor keeps it under alpha.
    assert _false_alarm_rate(night_sd, k=7, alpha=alpha, seeds=300) <= alpha


def test_injected_five_percent_slowdown_is_detected_on_a_steady_device():
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(20_000 + seed)
        base = [latencies(rng, 1e6, 2000, 0.005) for _ in range(7)]
        tonight = latencies(rng, 1.05e6, 2000, 0.005)
        v = compare_latency(tonight, base, [float(np.median(b)) for b in base], Policy())
        hits += v.outcome is Outcome.REGRESSION
    assert hits >= 90


def test_scalar_regression_beyond_noise_and_minimum_effect():
    v = compare_scalar(110.0, [100.0, 100.5, 99.5], [100.0, 100.5, 99.5], Policy(), 0.01)
    assert v.outcome is Outcome.REGRESSION and v.ratio == pytest.approx(1.1, rel=0.01)


def test_scalar_within_minimum_effect_is_no_change():
    v = compare_scalar(102.0, [100.0, 100.1], [100.0, 100.1], Policy(), 0.01)
    assert v.outcome is Outcome.NO_CHANGE


def test_scalar_not_measured_is_not_enough_data():
    assert compare_scalar(None, [1.0], [1.0], Policy(), 0.01).outcome is Outcome.NOT_ENOUGH_DATA


def test_accuracy_growing_error_is_a_regression():
    v = compare_accuracy(0.02, True, [0.01, 0.011], [True, True], Policy())
    assert v.outcome is Outcome.REGRESSION


def test_accuracy_same_error_is_no_change():
    v = compare_accuracy(0.0105, True, [0.01, 0.011], [True, True], Policy())
    assert v.outcome is Outcome.NO_CHANGE


def test_accuracy_tolerance_no_longer_met_is_a_regression():
    v = compare_accuracy(0.01, False, [0.01], [True], Policy())
    assert v.outcome is Outcome.REGRESSION and "tolerance" in v.reason


def test_accuracy_non_finite_output_is_a_regression():
    assert compare_accuracy(math.nan, None, [0.0], [None], Policy()).outcome is Outcome.REGRESSION


def test_policy_rejects_an_alpha_outside_its_range():
    with pytest.raises(ValueError, match="alpha"):
        Policy(alpha=0.7)
