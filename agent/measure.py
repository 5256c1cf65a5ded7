"""The measured loop: warm-up, then timed iterations until the stopping rules are met.

The clock is ``perf_counter_ns`` around the runtime call only; garbage collection is off
inside the loop; the loop body does as little as possible, so that on a 0.1 ms model the
harness costs well under 2% (benchmarks/bench_overhead.py measures it).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rigbench.agent.jobs import MeasurementConfig
from rigbench.stats import BATCH_MEDIANS, MIN_BATCH, MIN_BATCHES, MedianInterval, median_interval

ProgressFn = Callable[[str, int, int], None]  # phase, iterations, elapsed_ns

_PROGRESS_EVERY_NS = 500_000_000
_CHECK_GROWTH = 1.5  # the early-stop check runs again once the sample count grew by this factor


@dataclass
class Measurement:
    first_inference_ns: int
    warmup_iterations: int
    latencies_ns: list[int]
    start_ns: int
    end_ns: int
    stop_reason: str
    starts_ns: list[int] = field(default_factory=list)  # per-iteration start, soak jobs only


def early_stop_interval(
    latencies_ns: list[int], confidence: float, target_rel_width: float
) -> MedianInterval | None:
    """The median's interval when it allows stopping early, else None.

    It must come from batch medians whose batches span enough of the series' memory
    (``reliable``), be no wider than the target, and the run's two halves must agree: a level
    that moved while measuring (warm-up, throttling, a neighbour) is not yet known to this
    precision, however narrow the interval looks.
    """
    iv = median_interval(latencies_ns, confidence)
    if iv is None or iv.method != BATCH_MEDIANS or not iv.reliable or not iv.halves_agree:
        return None
    width = iv.rel_width
    return iv if width is not None and width <= target_rel_width else None


def run_measurement(
    call: Callable[[], Any],
    cfg: MeasurementConfig,
    progress: ProgressFn | None = None,
    record_starts: bool = False,
    bind: Callable[[int], None] | None = None,
) -> Measurement:
    """Time ``call`` under the stopping rules of ``cfg``; the first call is timed apart.

    ``bind(i)``, when given, runs before call ``i`` outside the clock (rotating inputs).
    """
    clock = time.perf_counter_ns
    report = progress or (lambda phase, n, t: None)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = clock()
        call()
        first = clock() - t0

        # Warm-up: by count and/or time; the first inference does not count towards it.
        report("warmup", 0, 0)
        w_start = clock()
        w_min_ns = int(cfg.warmup_s * 1e9)
        warm = 0
        while warm < cfg.warmup_iterations or clock() - w_start < w_min_ns:
            if bind is not None:
                bind(warm)
            call()
            warm += 1

        min_it = max(1, cfg.min_iterations)
        max_it = max(min_it, cfg.max_iterations or min_it)
        min_ns = int(cfg.min_duration_s * 1e9)
        early_ns = max(min_ns, int(cfg.ci_min_duration_s * 1e9))
        max_ns = int(cfg.max_duration_s * 1e9) if cfg.max_duration_s > 0 else 2**62
        target = cfg.ci_target_rel_width
        latencies: list[int] = []
        starts: list[int] = []
        append = latencies.append
        append_start = starts.append if record_starts else None
        next_check = max(min_it, MIN_BATCHES * MIN_BATCH)
        next_progress = _PROGRESS_EVERY_NS
        stop_reason = ""
        report("measuring", 0, 0)
        start = clock()
        n = 0
        while True:
            if bind is not None:
                bind(n)
            a = clock()
            call()
            b = clock()
            append(b - a)
            if append_start is not None:
                append_start(a)
            n += 1
            elapsed = b - start
            if n >= min_it and elapsed >= min_ns:
                if target <= 0:
                    stop_reason = "min_reached"
                    break
                if n >= next_check and elapsed >= early_ns:
                    next_check = int(n * _CHECK_GROWTH) + 1
                    if early_stop_interval(latencies, cfg.ci_confidence, target) is not None:
                        stop_reason = "ci_target"
                        break
            if n >= max_it:
                stop_reason = "max_iterations"
                break
            if elapsed >= max_ns:
                stop_reason = "max_duration"
                break
            if elapsed >= next_progress:
                next_progress += _PROGRESS_EVERY_NS
                report("measuring", n, elapsed)
        end = clock()
    finally:
        if gc_was_enabled:
            gc.enable()
    report("measured", n, end - start)
    return Measurement(
        first_inference_ns=first,
        warmup_iterations=warm,
        latencies_ns=latencies,
        start_ns=start,
        end_ns=end,
        stop_reason=stop_reason,
        starts_ns=starts,
    )


def soak_windows(
    starts_ns: list[int], latencies_ns: list[int], start_ns: int, window_s: float
) -> list[dict[str, float]]:
    """Throughput and latency per time window of a soak run."""
    if not latencies_ns:
        return []
    win = int(window_s * 1e9)
    buckets: dict[int, list[int]] = {}
    for s, lat in zip(starts_ns, latencies_ns):
        buckets.setdefault((s - start_ns) // win, []).append(lat)
    out = []
    for idx in sorted(buckets):
        lats = sorted(buckets[idx])
        out.append(
            {
                "window": idx,
                "t_start_s": idx * window_s,
                "iterations": len(lats),
                "throughput_ips": len(lats) / window_s,
                "p50_ms": lats[len(lats) // 2] / 1e6,
                "p99_ms": lats[min(len(lats) - 1, int(len(lats) * 0.99))] / 1e6,
            }
        )
    # The last window is usually partial: scale its throughput by the time it covered.
    last = out[-1]
    covered = (starts_ns[-1] + latencies_ns[-1] - start_ns) / 1e9 - last["t_start_s"]
    if covered > 0:
        last["throughput_ips"] = last["iterations"] / min(window_s, covered)
    return out
