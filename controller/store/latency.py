"""Latency statistics from every per-iteration sample of a job: the ``results`` and
``load_points`` columns its latencies fill (computed as a row is written, so they live with
the store).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigbench.agent.jobs import HostLoad
from rigbench.stats import median_interval


@dataclass(frozen=True)
class LatencyStats:
    iterations: int
    p50_ns: float
    p90_ns: float
    p99_ns: float
    mean_ns: float
    min_ns: float
    max_ns: float
    std_ns: float
    p50_ci_low_ns: float | None
    p50_ci_high_ns: float | None
    throughput_ips: float | None  # iterations per second of the measured window
    p50_ci_method: str | None  # how the median's interval was computed (rigbench.stats)
    p50_ci_reliable: bool | None  # its batches span enough of the series' memory
    p50_halves_ratio: float | None  # second half's median / first half's: drift while measuring

    def columns(self) -> dict[str, float | int | None]:
        """The store's `results` columns these statistics fill, by name."""
        return dict(self.__dict__)


def percentile_sorted(ordered: np.ndarray, q: float) -> float:
    """Linear-interpolation percentile (numpy's default method) of an already sorted array."""
    pos = (ordered.size - 1) * q / 100.0
    lo = int(np.floor(pos))
    hi = min(lo + 1, ordered.size - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def load_point_stats(
    latencies_ns: np.ndarray,
    *,
    batch: int,
    duration_ns: int,
    cpu_ns: int,
    cpus: int,
    percentile: float,
    planned: int = 0,
    schedule_ns: int = 0,
) -> dict[str, float | int | None]:
    """Figures of one offline or server load point (``load_points`` columns), from every
    served request's latency. ``achieved_qps`` counts served requests over the point's
    duration (from its start to the last served request's end); ``offered_qps`` (server) is
    the rate the Poisson schedule realised, ``planned`` arrivals over ``schedule_ns`` (MLPerf
    LoadGen's "scheduled samples per second"). CPU utilisation is the worker's CPU time over
    the duration on all its CPUs (1.0: every CPU busy).
    """
    lat = np.sort(np.asarray(latencies_ns, dtype=np.int64))
    seconds = duration_ns / 1e9
    rate = lat.size / seconds if seconds > 0 and lat.size else None
    return {
        "requests": int(lat.size),
        "duration_ns": int(duration_ns),
        "offered_qps": planned / (schedule_ns / 1e9) if schedule_ns > 0 and planned else None,
        "achieved_qps": rate,
        "samples_per_s": rate * batch if rate is not None else None,
        "p50_ns": percentile_sorted(lat, 50) if lat.size else None,
        "p90_ns": percentile_sorted(lat, 90) if lat.size else None,
        "p99_ns": percentile_sorted(lat, 99) if lat.size else None,
        "mean_ns": float(lat.mean()) if lat.size else None,
        "max_ns": float(lat.max()) if lat.size else None,
        "percentile_ns": percentile_sorted(lat, percentile) if lat.size else None,
        "cpu_util": cpu_ns / (duration_ns * cpus) if duration_ns > 0 and cpus > 0 else None,
    }


def latency_stats(latencies_ns: np.ndarray, window_ns: int | None = None) -> LatencyStats:
    """Percentiles (linear interpolation), mean, spread and the median's 95% CI.

    ``latencies_ns`` must be in the order they were measured: the interval accounts for the
    dependence between consecutive iterations (``rigbench.stats.median_interval``).
    """
    lat = np.asarray(latencies_ns, dtype=np.int64)
    if lat.size == 0:
        raise ValueError("no latency samples")
    ordered = np.sort(lat)
    p50, p90, p99 = (percentile_sorted(ordered, q) for q in (50, 90, 99))
    ci = median_interval(lat, 0.95)
    window = window_ns if window_ns and window_ns > 0 else int(lat.sum())
    return LatencyStats(
        iterations=int(lat.size),
        p50_ns=float(p50),
        p90_ns=float(p90),
        p99_ns=float(p99),
        mean_ns=float(lat.mean()),
        min_ns=float(lat.min()),
        max_ns=float(lat.max()),
        std_ns=float(lat.std(ddof=1)) if lat.size > 1 else 0.0,
        p50_ci_low_ns=ci.low if ci else None,
        p50_ci_high_ns=ci.high if ci else None,
        throughput_ips=lat.size / (window / 1e9) if window > 0 else None,
        p50_ci_method=ci.describe() if ci else None,
        p50_ci_reliable=ci.reliable if ci else None,
        p50_halves_ratio=ci.halves_ratio if ci else None,
    )


def host_load_columns(h: HostLoad) -> dict[str, float | None]:
    """The store's `results` columns of what else the host did around the measured loop."""
    return {
        "load_avg_1m_start": h.load_avg_1m_start,
        "load_avg_1m_end": h.load_avg_1m_end,
        "other_cpu_share": h.other_cpu_share,
        "steal_share": h.steal_share,
    }
