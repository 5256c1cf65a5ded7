"""The shared statistics (rigbench.stats): distributions, order statistics, the median's interval.

The interval's promise is checked by simulation: on synthetic series whose true median is known
and whose consecutive values are dependent (AR(1), and a load that switches on and off), the
stated 95 % interval must cover the true median in at least 90 % of runs. Hypothesis draws the
series' parameters; ``derandomize`` makes every run of the suite draw the same ones, so the
test is a fixed experiment, not a coin toss.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.stats import (
    BATCH_MEDIANS,
    MAX_BATCHES,
    MIN_BATCHES,
    ORDER_STATISTICS,
    autocorrelation_time,
    median_interval,
    quantile_ci_ranks,
    t_ppf,
    z_value,
)
from tests.builders.synthetic import ar1, latencies_ar1

TRIALS = 200


def switching_load(
    n: int, dwell: float, busy_share: float, slowdown: float, rng: np.random.Generator
) -> np.ndarray:
    """A neighbour that comes and goes: a two-state Markov chain scales log-normal latencies.

    Mean time in a state is ``dwell`` iterations; the busy state holds ``busy_share`` of the
    time in the long run and multiplies latency by ``slowdown``. (With a busy share near one
    half the median falls between the two modes, where it is not well defined: no interval
    of it can be trusted there, and docs/noise.md says so.)
    """
    p_leave_busy = 1.0 / dwell
    p_enter_busy = p_leave_busy * busy_share / (1.0 - busy_share)
    busy = np.empty(n, dtype=bool)
    state = rng.random() < busy_share
    for i in range(n):
        busy[i] = state
        state = (rng.random() >= p_leave_busy) if state else (rng.random() < p_enter_busy)
    return 1e6 * np.exp(0.05 * rng.standard_normal(n)) * np.where(busy, slowdown, 1.0)


def switching_median(busy_share: float, slowdown: float) -> float:
    """The true median of ``switching_load``'s stationary mixture, by bisection."""
    nd = NormalDist(0.0, 0.05)

    def cdf(m: float) -> float:
        return (1 - busy_share) * nd.cdf(math.log(m / 1e6)) + busy_share * nd.cdf(
            math.log(m / (1e6 * slowdown))
        )

    lo, hi = 1e5, 1e7
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return (lo + hi) / 2


def coverage(series: list[np.ndarray], truth: float) -> float:
    hits = 0
    for x in series:
        iv = median_interval(x, 0.95)
        assert iv is not None
        hits += iv.low <= truth <= iv.high
    return hits / len(series)


# --- distributions and order statistics -------------------------------------------------------


def test_z_value_is_the_standard_normal_quantile() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.0)


def test_t_quantile_of_nine_degrees_of_freedom_matches_the_table() -> None:
    assert t_ppf(0.975, 9) == pytest.approx(2.262, abs=1e-3)
    assert t_ppf(0.975, 4) == pytest.approx(2.776, abs=1e-3)


def test_median_interval_of_100_samples_spans_the_textbook_ranks() -> None:
    assert quantile_ci_ranks(100, 0.5) == (40, 61)


# --- which interval, and what it says about itself --------------------------------------------


def test_too_few_samples_have_no_interval() -> None:
    assert median_interval([5, 6, 7]) is None


def test_short_runs_fall_back_to_order_statistics_and_say_so() -> None:
    iv = median_interval(list(range(1, 31)))
    assert iv is not None and iv.method == ORDER_STATISTICS
    assert "assumes independent iterations" in iv.describe()
    assert iv.low <= 15.5 <= iv.high


def test_longer_runs_use_batch_medians_and_say_how_many() -> None:
    x = latencies_ar1(2000, 0.0, 0.1, np.random.default_rng(0))
    iv = median_interval(x)
    assert iv is not None and iv.method == BATCH_MEDIANS and iv.reliable
    assert iv.batches == MAX_BATCHES and iv.batch_size == 200
    assert f"{MAX_BATCHES} contiguous batches" in iv.describe()


def test_constant_latencies_have_a_zero_width_interval() -> None:
    iv = median_interval([1000] * 500)
    assert iv is not None and (iv.low, iv.high) == (1000.0, 1000.0) and iv.rel_width == 0.0


def test_memory_longer_than_the_batches_makes_the_interval_unreliable() -> None:
    x = latencies_ar1(300, 0.995, 0.1, np.random.default_rng(1))
    iv = median_interval(x)
    assert iv is not None and iv.batches == MIN_BATCHES and not iv.reliable
    assert "likely too narrow" in iv.describe()


def test_autocorrelation_time_of_independent_values_is_about_one() -> None:
    x = np.random.default_rng(2).standard_normal(20_000)
    assert autocorrelation_time(x) == pytest.approx(1.0, abs=0.2)


def test_autocorrelation_time_grows_with_memory() -> None:
    rng = np.random.default_rng(3)
    taus = [autocorrelation_time(ar1(20_000, phi, rng)) for phi in (0.0, 0.5, 0.9)]
    assert taus[0] < taus[1] < taus[2]
    # The indicator's correlation at lag k is (2/pi) asin(phi^k): tau about 13 at phi = 0.9.
    assert 8 < taus[2] < 20


def test_halves_that_moved_more_than_the_interval_disagree() -> None:
    # 5 % noise, and a level that moves by 2 % halfway: the overall interval is narrower
    # than 2 %, so the halves disagree with it.
    rng = np.random.default_rng(4)
    steady = 1e6 * np.exp(0.05 * rng.standard_normal(20_000))
    moved = steady * np.r_[np.ones(10_000), np.full(10_000, 1.02)]
    a, b = median_interval(steady), median_interval(moved)
    assert a is not None and a.halves_agree
    assert b is not None and not b.halves_agree
    assert b.halves_ratio == pytest.approx(1.02, rel=0.01)


@settings(deadline=None, max_examples=50)
@given(st.lists(st.integers(1, 10**9), min_size=8, max_size=400))
def test_the_interval_brackets_the_median(values: list[int]) -> None:
    iv = median_interval(values)
    assert iv is not None
    assert iv.low <= float(np.median(values)) <= iv.high
    assert iv.low >= 0.0


# --- coverage on dependent series ----------------------------------------------------------------


@settings(deadline=None, max_examples=6, derandomize=True)
@given(
    phi=st.sampled_from([0.0, 0.5, 0.8, 0.9]),
    n=st.sampled_from([600, 1500, 4000]),
    sigma=st.sampled_from([0.02, 0.1, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_interval_covers_the_median_of_ar1_series(phi: float, n: int, sigma: float, seed: int):
    rng = np.random.default_rng(seed)
    series = [latencies_ar1(n, phi, sigma, rng) for _ in range(TRIALS)]
    assert coverage(series, 1e6) >= 0.90


@settings(deadline=None, max_examples=4, derandomize=True)
@given(
    dwell=st.sampled_from([5.0, 20.0, 50.0]),
    busy_share=st.sampled_from([0.2, 0.35]),
    seed=st.integers(0, 2**32 - 1),
)
def test_interval_covers_the_median_under_a_neighbour_that_comes_and_goes(
    dwell: float, busy_share: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    series = [switching_load(4000, dwell, busy_share, 1.3, rng) for _ in range(TRIALS)]
    assert coverage(series, switching_median(busy_share, 1.3)) >= 0.90


def test_the_independent_iterations_interval_would_not_cover_an_ar1_series() -> None:
    """Why batches: the order-statistic interval assumes independence and misses here."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(TRIALS):
        x = np.sort(latencies_ar1(2000, 0.9, 0.1, rng))
        lo, hi = quantile_ci_ranks(x.size, 0.5)
        hits += x[lo - 1] <= 1e6 <= x[hi - 1]
    assert hits / TRIALS < 0.6
