"""A latency percentile's interval that accounts for dependence between iterations.

The latency bound of ``rigbench tune`` (``--latency-ms`` at ``--percentile``) prunes a
configuration only when the percentile's interval lies wholly above the bound, and lets one
lead only when it lies wholly below. The textbook order-statistic interval assumes
independent iterations and is then far too narrow (docs/noise.md); here the sample size is
shrunk to its effective size ``n / tau``, tau being the integrated autocorrelation time of the
indicator "at or below the quantile", measured by the shared statistics module
(``rigbench.stats.autocorrelation_time``, Sokal's window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rigbench import stats


@dataclass(frozen=True)
class QuantileInterval:
    """A quantile of a series of latencies and its confidence interval.

    ``low_clipped``/``high_clipped``: that side ran into the smallest or largest sample, so it
    claims more than the samples back (a p99 from 100 iterations has no upper bound).
    ``reliable``: the series spans as many autocorrelation times as the median's batches must
    (``MIN_BATCHES * BATCH_SPAN``).
    """

    q: float
    point: float
    low: float
    high: float
    confidence: float
    autocorrelation_time: float
    low_clipped: bool
    high_clipped: bool
    reliable: bool


def indicator_autocorrelation_time(x: np.ndarray, q: float) -> float:
    """Integrated autocorrelation time of the indicator ``x <= quantile(x, q)`` (at least 1).

    ``stats.autocorrelation_time`` measures the indicator "at or below the median" of the
    series it is given. Fed a two-valued series whose median falls on the value marking
    "at or below the q-quantile" (or on its complement, which has the same autocorrelation),
    it measures exactly this indicator's.
    """
    at_or_below = x <= np.quantile(x, q)
    # "At or below" as -1 when it is the majority (the median is then -1, or -0.5 at a tie),
    # else as 1 (the median is 0, and "at or below the median" is the complement).
    two_valued = np.where(at_or_below, -1.0, 0.0) if at_or_below.mean() >= 0.5 else at_or_below
    return stats.autocorrelation_time(np.asarray(two_valued, dtype=np.float64))


def quantile_interval(
    latencies_in_order: Sequence[float] | np.ndarray, q: float, confidence: float = 0.95
) -> QuantileInterval | None:
    """The ``q`` quantile (linear interpolation) and its dependence-aware interval.

    None below ``stats.MIN_ORDER_STATISTICS`` samples.
    """
    x = np.asarray(latencies_in_order, dtype=np.float64).ravel()
    n = x.size
    if n < stats.MIN_ORDER_STATISTICS:
        return None
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tau = indicator_autocorrelation_time(x, q)
    half = stats.z_value(confidence) * math.sqrt(n * q * (1.0 - q) * tau)
    lo = math.floor(n * q - half)  # 1-based ranks, as stats.quantile_ci_ranks
    hi = math.ceil(n * q + half) + 1
    s = np.sort(x)
    return QuantileInterval(
        q=q,
        point=float(np.quantile(x, q)),
        low=float(s[max(1, min(n, lo)) - 1]),
        high=float(s[max(1, min(n, hi)) - 1]),
        confidence=confidence,
        autocorrelation_time=tau,
        low_clipped=lo < 1,
        high_clipped=hi > n,
        reliable=n >= stats.MIN_BATCHES * stats.BATCH_SPAN * tau,
    )
