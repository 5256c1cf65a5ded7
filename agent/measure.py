"""The measured loop: warm-up, then timed iterations until the stopping rules are met.

The clock is ``perf_counter_ns`` around the runtime call only; garbage collection is off
inside the loop; the loop body does as little as possible, so that on a 0.1 ms model the
harness costs well under 2% (benchmarks/bench_overhead.py measures it).
"""

from __future__ import annotations

import functools
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rigbench.agent.jobs import MeasurementConfig

ProgressFn = Callable[[str, int, int], None]  # phase, iterations, elapsed_ns

_PROGRESS_EVERY_NS = 500_000_000


@dataclass
class Measurement:
    first_inference_ns: int
    warmup_iterations: int
    latencies_ns: list[int]
    start_ns: int
    end_ns: int
    stop_reason: str
    starts_ns: list[int] = field(default_factory=list)  # per-iteration start, soak jobs only


def median_ci(sorted_values: list[int], confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the median from order statistics.

    Uses the normal approximation to the binomial(n, 1/2) ranks; None when n is too small
    for an interval at this confidence.
    """
    n = len(sorted_values)
    if n < 6:
        return None
    z = _z(confidence)
    half = z * math.sqrt(n) / 2
    # 0-based indices of the order statistics, symmetric around the median.
    hi = int(math.ceil(n / 2 + half))
    lo = n - 1 - hi
    if lo < 0 or hi > n - 1:
        return None
    return float(sorted_values[lo]), float(sorted_values[hi])


@functools.lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    # Inverse normal CDF via the error function's inverse (bisection: no scipy on a Pi).
    p = 0.5 + confidence / 2
    lo, hi = 0.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def ci_rel_width(values: list[int], confidence: float) -> float | None:
    """Width of the median's confidence interval relative to the median."""
    s = sorted(values)
    ci = median_ci(s, confidence)
    if ci is None:
        return None
    med = s[len(s) // 2]
    return (ci[1] - ci[0]) / med if med > 0 else None


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
        max_ns = int(cfg.max_duration_s * 1e9) if cfg.max_duration_s > 0 else 2**62
        target = cfg.ci_target_rel_width
        latencies: list[int] = []
        starts: list[int] = []
        append = latencies.append
        append_start = starts.append if record_starts else None
        next_check = max(min_it, 64)
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
                if n >= next_check:
                    next_check = n * 2
                    width = ci_rel_width(latencies, cfg.ci_confidence)
                    if width is not None and width <= target:
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
