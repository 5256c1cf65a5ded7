"""What a configuration's trials say, with intervals from the shared statistics module.

A configuration may be measured several times (one trial per rung of the race). Its
evidence pools every trial's latencies in the order they were measured: the median's
interval (``rigbench.stats``: batch medians, so autocorrelated iterations and a level that
moved between trials widen it instead of being ignored) and the constraint percentile's.
Trials are separate jobs (a fresh worker, a fresh load), and a job's level can differ from
the next one's by more than one job's interval shows; ``job_noise_rel`` widens every interval
by that floor so that a difference no single job can see is never taken for a real one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rigbench import stats
from rigbench.controller.tune.config import Config
from rigbench.controller.tune.quantile import QuantileInterval, quantile_interval
from rigbench.stats import Interval


@dataclass(frozen=True)
class Trial:
    """One measurement of a configuration (one job), as the race needs it.

    ``cost_s`` is the device time the trial took, everything included (start, load, warm-up,
    accuracy): what the budget pays. ``per_inference_s`` is the time one inference takes the
    device (1 / throughput: concurrent requests overlap, so it is not the latency); None for
    a single stream, where it is the mean latency. ``error`` is the accuracy figure (max abs
    error against the source) when this trial measured it, ``error_unknown`` why it could
    not be. ``failure`` is set when the configuration itself failed (the model, its inputs
    or the runtime refused it): the configuration is out of the race.
    """

    config: Config
    rung: int
    cost_s: float
    duration_s: float  # the measured loop's length the trial asked for
    latencies_ns: np.ndarray | None = None
    per_inference_s: float | None = None
    power_w: float | None = None
    error: float | None = None
    error_unknown: str | None = None
    failure: str | None = None
    job_id: str = ""


@dataclass(frozen=True)
class QuantileBound:
    """A percentile of the latency and its interval (dependence-aware; None: not enough)."""

    percentile: float
    point_ns: float
    interval: QuantileInterval | None


@dataclass(frozen=True)
class Evidence:
    """Every trial of one configuration, pooled."""

    config: Config
    trials: int
    iterations: int
    cost_s: float
    median: stats.MedianInterval | None  # ns
    per_inference_s: float
    power_w: float | None
    p99_ns: float
    bound: QuantileBound | None  # the latency constraint's percentile, when one is set

    @property
    def reliable(self) -> bool:
        """The median's interval may be relied on to prune (batches long enough)."""
        return self.median is not None and self.median.reliable

    @property
    def median_ms(self) -> float:
        assert self.median is not None
        return self.median.median / 1e6


def pool(trials: Sequence[Trial], confidence: float, percentile: float | None) -> Evidence | None:
    """The pooled evidence of one configuration's successful trials (None: none measured)."""
    good = [t for t in trials if t.latencies_ns is not None and len(t.latencies_ns) > 0]
    if not good:
        return None
    lat = np.concatenate([np.asarray(t.latencies_ns, dtype=np.float64) for t in good])
    weights = np.array([len(t.latencies_ns) for t in good], dtype=np.float64)  # type: ignore[arg-type]
    per_inf = [
        t.per_inference_s if t.per_inference_s else float(np.mean(t.latencies_ns)) / 1e9  # type: ignore[arg-type]
        for t in good
    ]
    powers = [t.power_w for t in good if t.power_w is not None]
    bound = None
    if percentile is not None:
        q = percentile / 100.0
        bound = QuantileBound(
            percentile, float(np.quantile(lat, q)), quantile_interval(lat, q, confidence)
        )
    return Evidence(
        config=good[0].config,
        trials=len(good),
        iterations=int(lat.size),
        cost_s=sum(t.cost_s for t in trials),
        median=stats.median_interval(lat, confidence),
        per_inference_s=float(np.average(per_inf, weights=weights)),
        power_w=float(np.mean(powers)) if powers else None,
        p99_ns=float(np.quantile(lat, 0.99)),
        bound=bound,
    )


@dataclass(frozen=True)
class Objective:
    """What the race minimises, in the units shown to the user.

    ``value`` maps a configuration's evidence to the figure (None: unknown for it, e.g. a cost
    without a price); the figure's interval is its point scaled by the median's relative
    interval (cost and energy scale with the time an inference takes, as in ``rank``).
    ``latency`` is the median itself.
    """

    name: str  # latency | cost | energy
    unit: str
    value: Callable[[Evidence], float | None]
    uses_median: bool = False

    def interval(self, ev: Evidence, floor_rel: float) -> Interval | None:
        """The figure's interval widened by ``floor_rel`` of its point each side (not below 0)."""
        m = ev.median
        if m is None:
            return None
        if self.uses_median:
            point, lo, hi = m.median / 1e6, m.low / 1e6, m.high / 1e6
        else:
            point_or_none = self.value(ev)
            if point_or_none is None or m.median <= 0:
                return None
            point = point_or_none
            lo, hi = point * m.low / m.median, point * m.high / m.median
        # Latency, cost and energy are never negative: the floor does not widen past zero.
        return Interval(point, max(0.0, lo - floor_rel * point), hi + floor_rel * point)


def latency_objective() -> Objective:
    return Objective("latency", "ms", lambda ev: ev.median_ms, uses_median=True)


def per_inference_objective(
    name: str, unit: str, rate: Callable[[Evidence], float | None]
) -> Objective:
    """A figure proportional to the time one inference takes: ``rate`` x seconds/inference.

    Cost: ``rate`` is dollars per second of the device (hourly price, or amortisation plus
    energy at its power); energy: watts, giving joules per inference.
    """

    def value(ev: Evidence) -> float | None:
        r = rate(ev)
        return None if r is None else r * ev.per_inference_s

    return Objective(name, unit, value)
