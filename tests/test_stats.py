"""Latency statistics from every per-iteration sample of a job."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.controller.store.latency import latency_stats


def test_percentiles_interpolate_linearly() -> None:
    s = latency_stats(np.arange(1, 101))
    assert (s.p50_ns, s.p90_ns, s.p99_ns) == pytest.approx((50.5, 90.1, 99.01))


def test_mean_spread_and_extremes() -> None:
    s = latency_stats(np.array([10, 20, 30, 40]))
    assert s.iterations == 4
    assert (s.mean_ns, s.min_ns, s.max_ns) == (25.0, 10.0, 40.0)
    assert s.std_ns == pytest.approx(np.std([10, 20, 30, 40], ddof=1))


def test_single_sample_has_zero_spread_and_no_interval() -> None:
    s = latency_stats(np.array([1234]))
    assert s.std_ns == 0.0
    assert s.p50_ns == s.p99_ns == 1234.0
    assert s.p50_ci_low_ns is None and s.p50_ci_high_ns is None


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no latency samples"):
        latency_stats(np.array([], dtype=np.int64))


def test_throughput_uses_the_measured_window_when_given() -> None:
    s = latency_stats(np.full(100, 1_000_000), window_ns=200_000_000)
    assert s.throughput_ips == pytest.approx(500.0)


def test_throughput_without_a_window_is_from_the_summed_latencies() -> None:
    s = latency_stats(np.full(100, 1_000_000))
    assert s.throughput_ips == pytest.approx(1000.0)


def test_throughput_of_zero_time_is_unknown() -> None:
    assert latency_stats(np.zeros(10, dtype=np.int64)).throughput_ips is None


def test_large_nanosecond_values_do_not_overflow() -> None:
    s = latency_stats(np.full(1000, 2**40, dtype=np.int64))
    assert s.mean_ns == float(2**40)
    assert s.throughput_ips == pytest.approx(1e9 / 2**40)


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.lists(st.integers(1, 10**10), min_size=1, max_size=500))
def test_statistics_are_ordered_and_the_interval_brackets_the_median(values: list[int]) -> None:
    s = latency_stats(np.array(values, dtype=np.int64))
    assert s.min_ns <= s.p50_ns <= s.p90_ns <= s.p99_ns <= s.max_ns
    assert s.min_ns <= s.mean_ns * (1 + 1e-12) and s.mean_ns <= s.max_ns * (1 + 1e-12)
    if s.p50_ci_low_ns is not None:
        assert s.p50_ci_high_ns is not None
        assert s.p50_ci_low_ns <= s.p50_ns <= s.p50_ci_high_ns
    else:
        assert len(values) < 8  # 95% needs ranks 0 and n-1 at n = 8


def test_the_median_interval_says_how_it_was_computed() -> None:
    s = latency_stats(np.random.default_rng(0).integers(1_000_000, 1_100_000, 2000))
    assert s.p50_ci_method is not None and s.p50_ci_method.startswith("95% batch-medians")
    assert s.p50_ci_reliable is True
    assert s.p50_halves_ratio == pytest.approx(1.0, abs=0.02)
    short = latency_stats(np.arange(1, 21))
    assert short.p50_ci_method is not None
    assert "assumes independent iterations" in short.p50_ci_method
