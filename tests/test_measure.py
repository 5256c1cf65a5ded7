"""The measured loop's statistics and stopping rules (docs/design.md, "How a job is measured")."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.agent.jobs import MeasurementConfig
from rigbench.agent.measure import ci_rel_width, median_ci, run_measurement, soak_windows


def cfg(**kw: float) -> MeasurementConfig:
    """A config that stops on iterations only unless a test says otherwise."""
    base: dict[str, float] = dict(
        warmup_iterations=0,
        warmup_s=0.0,
        min_iterations=1,
        max_iterations=100_000,
        min_duration_s=0.0,
        max_duration_s=60.0,
        ci_target_rel_width=0.0,
    )
    base.update(kw)
    return MeasurementConfig(**base)  # type: ignore[arg-type]


class Counter:
    """A runtime call that counts itself and notes whether gc was on."""

    def __init__(self) -> None:
        self.calls = 0
        self.gc_states: list[bool] = []

    def __call__(self) -> None:
        self.calls += 1
        self.gc_states.append(gc.isenabled())


@pytest.fixture
def gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def _coverage(n: int, lo: int, hi: int) -> float:
    """P(X_(lo) <= median <= X_(hi)) for 0-based order statistics of n continuous samples."""
    return sum(math.comb(n, k) for k in range(lo + 1, hi + 1)) / 2**n


# --- median_ci --------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_median_ci_covers_the_median_at_least_at_its_confidence(confidence: float) -> None:
    # On 0..n-1 the interval's values are its ranks, so its exact coverage follows.
    for n in range(6, 400):
        ci = median_ci(list(range(n)), confidence)
        if ci is not None:
            assert _coverage(n, int(ci[0]), int(ci[1])) >= confidence, n


def test_median_ci_ranks_are_symmetric_around_the_median() -> None:
    for n in range(6, 400):
        ci = median_ci(list(range(n)), 0.95)
        if ci is not None:
            assert ci[0] == n - 1 - ci[1], n


def test_median_ci_is_none_for_too_few_samples() -> None:
    assert median_ci([1, 2, 3, 4, 5]) is None
    assert median_ci(list(range(8)), 0.999) is None


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.lists(st.integers(0, 10**9), min_size=6, max_size=300))
def test_median_ci_brackets_the_median(values: list[int]) -> None:
    s = sorted(values)
    ci = median_ci(s, 0.95)
    if ci is not None:
        assert ci[0] <= statistics.median(s) <= ci[1]
        assert ci[0] in s and ci[1] in s


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(
    st.lists(st.integers(0, 10**6), min_size=6, max_size=300),
    st.floats(0.5, 0.98),
    st.floats(0.5, 0.98),
)
def test_median_ci_widens_with_confidence(values: list[int], c1: float, c2: float) -> None:
    s = sorted(values)
    low, high = sorted((c1, c2))
    narrow, wide = median_ci(s, low), median_ci(s, high)
    if wide is not None:
        assert narrow is not None
        assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


def test_ci_rel_width_is_zero_for_constant_latencies() -> None:
    assert ci_rel_width([1000] * 100, 0.95) == 0.0


def test_ci_rel_width_is_relative_to_the_median() -> None:
    values = list(range(100, 200))
    ci = median_ci(values, 0.95)
    assert ci is not None
    assert ci_rel_width(values[::-1], 0.95) == pytest.approx((ci[1] - ci[0]) / 150)


def test_ci_rel_width_is_none_without_a_positive_median() -> None:
    assert ci_rel_width([0] * 50, 0.95) is None
    assert ci_rel_width([5, 6], 0.95) is None


# --- run_measurement --------------------------------------------------------------------------


def test_stops_at_min_iterations_when_no_duration_is_asked() -> None:
    call = Counter()
    m = run_measurement(call, cfg(min_iterations=37))
    assert len(m.latencies_ns) == 37
    assert m.stop_reason == "min_reached"


def test_first_inference_and_warmup_are_not_in_the_measured_latencies() -> None:
    call = Counter()
    m = run_measurement(call, cfg(warmup_iterations=5, min_iterations=20))
    assert m.warmup_iterations == 5
    assert call.calls == 1 + 5 + 20
    assert len(m.latencies_ns) == 20
    assert m.first_inference_ns > 0


def test_max_iterations_bounds_the_loop() -> None:
    m = run_measurement(Counter(), cfg(min_iterations=10, max_iterations=10, min_duration_s=30))
    assert len(m.latencies_ns) == 10
    assert m.stop_reason == "max_iterations"


def test_max_iterations_below_min_iterations_is_raised_to_it() -> None:
    m = run_measurement(Counter(), cfg(min_iterations=30, max_iterations=5))
    assert len(m.latencies_ns) == 30


def test_min_duration_keeps_measuring_past_min_iterations() -> None:
    def call() -> None:
        time.sleep(0.001)

    m = run_measurement(call, cfg(min_iterations=1, min_duration_s=0.02))
    assert m.stop_reason == "min_reached"
    assert len(m.latencies_ns) > 1
    # The loop's own clock: the last iteration ended at or after the minimum duration.
    assert m.end_ns - m.start_ns >= 20_000_000


def test_max_duration_bounds_the_loop() -> None:
    def call() -> None:
        time.sleep(0.001)

    m = run_measurement(call, cfg(min_iterations=10**6, max_duration_s=0.02))
    assert m.stop_reason == "max_duration"
    assert len(m.latencies_ns) < 10**6


def test_ci_target_stops_early_once_the_interval_is_narrow() -> None:
    m = run_measurement(Counter(), cfg(min_iterations=10, ci_target_rel_width=1.0))
    assert m.stop_reason == "ci_target"
    assert 64 <= len(m.latencies_ns) < 100_000


def test_ci_target_is_not_checked_before_min_iterations() -> None:
    m = run_measurement(Counter(), cfg(min_iterations=500, ci_target_rel_width=1.0))
    assert m.stop_reason == "ci_target"
    assert len(m.latencies_ns) >= 500


def test_unreachable_ci_target_runs_to_max_iterations() -> None:
    seq = iter([0, 2_000_000] * 200)

    def bimodal() -> None:
        # Half the calls take ~2 ms: the median's interval spans both modes.
        pause = next(seq)
        if pause:
            time.sleep(pause / 1e9)

    m = run_measurement(
        bimodal, cfg(min_iterations=10, max_iterations=130, ci_target_rel_width=0.01)
    )
    assert m.stop_reason == "max_iterations"
    assert len(m.latencies_ns) == 130


def test_warmup_by_count() -> None:
    call = Counter()
    m = run_measurement(call, cfg(warmup_iterations=12, min_iterations=3))
    assert m.warmup_iterations == 12


def test_warmup_by_time_runs_until_its_duration_has_passed() -> None:
    stamps: list[int] = []

    def call() -> None:
        stamps.append(time.perf_counter_ns())
        time.sleep(0.001)

    m = run_measurement(call, cfg(warmup_iterations=0, warmup_s=0.02, min_iterations=1))
    assert m.warmup_iterations >= 1
    # stamps[0] is the first inference; the first measured call starts after warmup_s more.
    assert stamps[1 + m.warmup_iterations] - stamps[0] >= 20_000_000


def test_warmup_count_is_honoured_when_its_time_has_already_passed() -> None:
    m = run_measurement(Counter(), cfg(warmup_iterations=200, warmup_s=1e-9, min_iterations=1))
    assert m.warmup_iterations == 200


@pytest.mark.usefixtures("gc_enabled")
def test_gc_is_off_inside_the_loop_and_restored_after() -> None:
    call = Counter()
    run_measurement(call, cfg(warmup_iterations=3, min_iterations=10))
    assert call.gc_states and not any(call.gc_states)
    assert gc.isenabled()


@pytest.mark.usefixtures("gc_enabled")
def test_gc_is_restored_when_the_call_raises() -> None:
    def boom() -> None:
        raise RuntimeError("runtime failed")

    with pytest.raises(RuntimeError):
        run_measurement(boom, cfg())
    assert gc.isenabled()


def test_gc_left_off_if_it_was_off_before() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        run_measurement(Counter(), cfg(min_iterations=5))
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_progress_reports_the_phases_in_order() -> None:
    phases: list[str] = []
    run_measurement(Counter(), cfg(min_iterations=5), lambda p, n, t: phases.append(p))
    assert phases == ["warmup", "measuring", "measured"]


def test_record_starts_gives_one_start_per_iteration_in_order() -> None:
    m = run_measurement(Counter(), cfg(min_iterations=50), record_starts=True)
    assert len(m.starts_ns) == 50
    assert m.starts_ns == sorted(m.starts_ns)
    assert m.start_ns <= m.starts_ns[0] and m.starts_ns[-1] <= m.end_ns


def test_starts_are_not_recorded_by_default() -> None:
    assert run_measurement(Counter(), cfg(min_iterations=5)).starts_ns == []


# --- soak_windows -----------------------------------------------------------------------------


def test_soak_windows_bucket_iterations_by_start_time() -> None:
    ms = 1_000_000
    starts = [0, 100 * ms, 1100 * ms, 1200 * ms, 1300 * ms]
    lats = [10 * ms] * 5
    w = soak_windows(starts, lats, 0, 1.0)
    assert [x["window"] for x in w] == [0, 1]
    assert [x["iterations"] for x in w] == [2, 3]
    assert w[0]["throughput_ips"] == 2.0
    assert w[1]["t_start_s"] == 1.0


def test_soak_last_partial_window_throughput_is_scaled_to_the_time_it_covered() -> None:
    ms = 1_000_000
    # Last window starts at 1 s and the last iteration ends at 1.25 s: 5 iterations / 0.25 s.
    starts = [0, 1000 * ms, 1050 * ms, 1100 * ms, 1150 * ms, 1200 * ms]
    w = soak_windows(starts, [50 * ms] * 6, 0, 1.0)
    assert w[-1]["throughput_ips"] == pytest.approx(20.0)


def test_soak_windows_of_nothing_is_empty() -> None:
    assert soak_windows([], [], 0, 1.0) == []


@st.composite
def soak_runs(draw: st.DrawFn) -> tuple[list[int], list[int], int, float]:
    lats = draw(st.lists(st.integers(1, 50_000_000), min_size=1, max_size=200))
    start = draw(st.integers(0, 10**12))
    gaps = draw(st.lists(st.integers(0, 10_000_000), min_size=len(lats), max_size=len(lats)))
    starts, t = [], start
    for lat, gap in zip(lats, gaps):
        t += gap
        starts.append(t)
        t += lat
    window_s = draw(st.sampled_from([0.01, 0.1, 0.5, 1.0, 10.0]))
    return starts, lats, start, window_s


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(soak_runs())
def test_soak_windows_account_for_every_iteration(
    run: tuple[list[int], list[int], int, float],
) -> None:
    starts, lats, start, window_s = run
    w = soak_windows(starts, lats, start, window_s)
    assert sum(x["iterations"] for x in w) == len(lats)
    idx = [x["window"] for x in w]
    assert idx == sorted(set(idx))
    for x in w:
        assert x["t_start_s"] == x["window"] * window_s
        assert x["p50_ms"] <= x["p99_ms"]
        assert min(lats) / 1e6 <= x["p50_ms"] <= max(lats) / 1e6
        assert x["throughput_ips"] > 0
