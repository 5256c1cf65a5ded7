"""The measured loop's statistics and stopping rules (docs/design.md, "How a job is measured")."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.agent.jobs import MeasurementConfig
from rigbench.agent.measure import early_stop_interval, run_measurement, soak_windows
from tests.builders.synthetic import latencies_ar1


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
        ci_min_duration_s=0.0,
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
    assert 50 <= len(m.latencies_ns) < 100_000


def test_early_stop_waits_for_its_minimum_time() -> None:
    def call() -> None:
        time.sleep(0.0002)

    m = run_measurement(
        call, cfg(min_iterations=10, ci_target_rel_width=1.0, ci_min_duration_s=0.05)
    )
    assert m.stop_reason == "ci_target"
    assert m.end_ns - m.start_ns >= 50_000_000


def test_early_stop_needs_a_batch_interval_narrower_than_the_target() -> None:
    x = latencies_ar1(2000, 0.0, 0.1, np.random.default_rng(0)).astype(np.int64).tolist()
    assert early_stop_interval(x, 0.95, 0.05) is not None
    assert early_stop_interval(x, 0.95, 0.001) is None


def test_early_stop_refuses_order_statistics_of_a_short_run() -> None:
    assert early_stop_interval(list(range(1000, 1040)), 0.95, 10.0) is None


def test_early_stop_refuses_batches_shorter_than_the_series_memory() -> None:
    x = latencies_ar1(300, 0.995, 0.01, np.random.default_rng(1)).astype(np.int64).tolist()
    assert early_stop_interval(x, 0.95, 10.0) is None


def test_early_stop_refuses_a_run_whose_halves_disagree() -> None:
    rng = np.random.default_rng(4)
    steady = 1e6 * np.exp(0.05 * rng.standard_normal(20_000))
    moved = steady * np.r_[np.ones(10_000), np.full(10_000, 1.02)]
    assert early_stop_interval(steady.astype(np.int64).tolist(), 0.95, 0.02) is not None
    assert early_stop_interval(moved.astype(np.int64).tolist(), 0.95, 0.02) is None


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
