"""The statistics both the agent and the controller rely on, in one place: numpy only.

The agent decides when to stop measuring from the median's confidence interval, and the
controller stores, ranks and compares with the same interval, so both must compute it the same
way. This module is the one home of the normal and Student t distributions, order-statistic
ranks, and the median's interval. It stays importable on a board (numpy and the standard
library, Python 3.10).

**Why batch medians.** Consecutive iterations are not independent: caches, clock changes,
the scheduler and busy neighbours make a slow iteration likely to be followed by another (on
the 2-core development VM the lag-2..50 autocorrelation of a small CNN's latencies was
0.1-0.4 under load). The textbook order-statistic interval assumes independence and is then
far too narrow: on AR(1) series with phi = 0.9 it covers the true median in about 42 % of runs
instead of 95 %. Here the series is cut into b contiguous batches; each batch's median is one
observation, and when batches are long compared with the memory of the series their medians
are nearly independent. The interval is the overall median plus or minus
``t(b - 1) * sd(batch medians) / sqrt(b)`` (nonoverlapping batch quantiles, as in the
steady-state simulation literature, e.g. Alexopoulos et al. 2019).

**How long a batch must be.** The memory of the series is measured on the series itself: the
integrated autocorrelation time tau of the indicator "at or below the median" (the process
whose long-run variance sets the median's), with Sokal's automatic window. A batch must span
``BATCH_SPAN`` (3) of them; b is at most ``MAX_BATCHES`` (10) and at least ``MIN_BATCHES`` (5).
When even 5 batches would be shorter than that, the interval is still computed from 5 batches
but ``reliable`` is False and its description says so: a run cannot measure memory longer
than itself, and such an interval is likely too narrow (the early stop never trusts one).
Coverage on synthetic series is checked by simulation in ``tests/test_shared_stats.py``.

Fewer than ``MIN_BATCHES * MIN_BATCH`` iterations are too few for batches: the interval then
falls back to order statistics, and says so in its ``method`` (independence assumed).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

MAX_BATCHES = 10
MIN_BATCHES = 5
MIN_BATCH = 10  # iterations in the shortest batch
BATCH_SPAN = 3.0  # a batch must span this many integrated autocorrelation times
SOKAL_WINDOW = 5.0  # Sokal's window: sum autocorrelations up to lag M once M >= 5 tau(M)
MIN_ORDER_STATISTICS = 8  # fewer samples than this: no interval at all

BATCH_MEDIANS = "batch-medians"
ORDER_STATISTICS = "order-statistics"


# --- distributions ------------------------------------------------------------------------------
def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile, e.g. 1.96 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (df may be fractional)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    if t2 < df:  # near zero: P(|T| < t) directly, as 1 - x would lose the digits
        tail = 0.5 - 0.5 * betainc(0.5, df / 2.0, t2 / (df + t2))
    else:
        tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t2))
    return tail if t >= 0 else 1.0 - tail


@functools.lru_cache(maxsize=256)
def t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on the survival function)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - p:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_sf(mid, df) > 1.0 - p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


# --- order statistics ---------------------------------------------------------------------------
def quantile_ci_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int, int]:
    """1-based ranks (l, u) such that [x_(l), x_(u)] covers the q-quantile at ``confidence``.

    Assumes independent samples. The count of samples below the true quantile is
    Binomial(n, q); its normal approximation gives nq -+ z * sqrt(nq(1-q)), rounded outwards and
    clipped to [1, n]. Clipping at the extremes (few samples, extreme q) makes the interval
    narrower than promised, so callers that care check `quantile_ci_clipped`.
    """
    if n < 1:
        raise ValueError("no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    half = z_value(confidence) * math.sqrt(n * q * (1.0 - q))
    lo = math.floor(n * q - half)
    hi = math.ceil(n * q + half) + 1
    return max(1, min(n, lo)), max(1, min(n, hi))


def quantile_ci_clipped(n: int, q: float, confidence: float = 0.95) -> bool:
    """Whether the order-statistic interval ran into the smallest or largest sample."""
    half = z_value(confidence) * math.sqrt(n * q * (1.0 - q))
    return math.floor(n * q - half) < 1 or math.ceil(n * q + half) + 1 > n


# --- the median's interval ----------------------------------------------------------------------
@dataclass(frozen=True)
class MedianInterval:
    """The median of a series of latencies and its confidence interval, with how it was made.

    ``halves`` are the medians of the first and second half of the series: a drifting series
    (warming up, throttling, a neighbour starting work) shows it, a steady one does not.
    """

    median: float
    low: float
    high: float
    confidence: float
    method: str  # BATCH_MEDIANS or ORDER_STATISTICS
    batches: int  # batches used (0 for order statistics)
    batch_size: int  # iterations in the shortest batch (0 for order statistics)
    autocorrelation_time: float | None  # of the at-or-below-the-median indicator (batches only)
    reliable: bool  # batches span BATCH_SPAN autocorrelation times (never for order statistics)
    halves: tuple[float, float] | None

    @property
    def rel_width(self) -> float | None:
        """Width relative to the median; None without a positive median."""
        return (self.high - self.low) / self.median if self.median > 0 else None

    @property
    def halves_ratio(self) -> float | None:
        """Second half's median over the first half's."""
        if self.halves is None or self.halves[0] <= 0:
            return None
        return self.halves[1] / self.halves[0]

    @property
    def halves_agree(self) -> bool:
        """The two halves' medians differ by no more than the interval is wide.

        For a steady series their difference has about twice the median's standard error and
        the interval is 4.5 to 5.5 standard errors wide: they disagree by chance in a few
        percent of steady runs, and whenever the level moved by more than the precision
        claimed.
        """
        if self.halves is None:
            return True
        return abs(self.halves[1] - self.halves[0]) <= self.high - self.low

    def describe(self) -> str:
        """How the interval was computed, for people: stored beside it."""
        level = f"{self.confidence:.0%}"
        if self.method == BATCH_MEDIANS:
            text = (
                f"{level} {BATCH_MEDIANS}: {self.batches} contiguous batches of >= "
                f"{self.batch_size} iterations, t({self.batches - 1}); autocorrelation time "
                f"{self.autocorrelation_time or 1.0:.1f} iterations"
            )
            if not self.reliable:
                text += (
                    f"; batches shorter than {BATCH_SPAN:g} autocorrelation times: "
                    "likely too narrow"
                )
            return text
        return f"{level} {ORDER_STATISTICS}: assumes independent iterations (too few for batches)"


def autocorrelation_time(x: np.ndarray) -> float:
    """Integrated autocorrelation time of the indicator ``x <= median(x)`` (at least 1).

    tau = 1 + 2 * sum of the indicator's autocorrelations up to lag M, with M the first lag
    at or beyond ``SOKAL_WINDOW * tau(M)`` (Sokal's automatic window, which keeps the noise of
    long-lag estimates out). Independent iterations give about 1; an AR(1) series with
    phi = 0.9 about 13. A series cannot show memory longer than itself: for short series the
    estimate is low.
    """
    ind = (x <= np.median(x)).astype(np.float64)
    ind -= ind.mean()
    n = ind.size
    var = float(np.dot(ind, ind))
    if n < 2 or var == 0.0:
        return 1.0
    spectrum = np.fft.rfft(ind, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n] / var
    taus = 1.0 + 2.0 * np.cumsum(acf[1:])  # taus[M - 1] = tau(M)
    lags = np.arange(1, n)
    stop = np.flatnonzero(lags >= SOKAL_WINDOW * taus)
    tau = float(taus[stop[0]]) if stop.size else float(taus[-1])
    return max(1.0, tau)


def _halves(x: np.ndarray) -> tuple[float, float] | None:
    half = x.size // 2
    if half < 1:
        return None
    return float(np.median(x[:half])), float(np.median(x[x.size - half :]))


def median_interval(
    latencies_in_order: Sequence[int] | Sequence[float] | np.ndarray, confidence: float = 0.95
) -> MedianInterval | None:
    """The median's confidence interval from latencies in the order they were measured.

    Batch medians when there are at least ``MIN_BATCHES * MIN_BATCH`` samples, else order
    statistics (independence assumed, said in ``method``); None below
    ``MIN_ORDER_STATISTICS`` samples or when the confidence asks for more ranks than exist.
    """
    x = np.asarray(latencies_in_order, dtype=np.float64).ravel()
    n = x.size
    if n < MIN_ORDER_STATISTICS:
        return None
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    med = float(np.median(x))
    halves = _halves(x)
    if n >= MIN_BATCHES * MIN_BATCH:
        tau = autocorrelation_time(x)
        span = max(MIN_BATCH, math.ceil(BATCH_SPAN * tau))
        b = min(MAX_BATCHES, n // span)
        reliable = b >= MIN_BATCHES
        b = max(b, MIN_BATCHES)
        meds = np.array([np.median(part) for part in np.array_split(x, b)])
        half = t_ppf(0.5 + confidence / 2.0, b - 1) * float(meds.std(ddof=1)) / math.sqrt(b)
        return MedianInterval(
            med, max(0.0, med - half), med + half, confidence, BATCH_MEDIANS, b, n // b, tau,
            reliable, halves,
        )  # fmt: skip
    z = z_value(confidence)
    hi = int(math.ceil(n / 2 + z * math.sqrt(n) / 2))  # 0-based, symmetric around the median
    lo = n - 1 - hi
    if lo < 0 or hi > n - 1:
        return None
    s = np.sort(x)
    return MedianInterval(
        med, float(s[lo]), float(s[hi]), confidence, ORDER_STATISTICS, 0, 0, None, False,
        halves,
    )  # fmt: skip


def mean_ci(mean: float, sd: float | None, n: int, confidence: float = 0.95) -> Interval:
    """Normal interval of a mean from n samples (sd None or n < 2: no spread known)."""
    if sd is None or n < 2 or math.isnan(sd):
        return Interval(mean, mean, mean)
    half = z_value(confidence) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval (lo <= point <= hi)."""

    point: float
    lo: float
    hi: float

    def scaled(self, factor: float) -> Interval:
        return Interval(self.point * factor, self.lo * factor, self.hi * factor)

    def relative_to(self, value: float) -> Interval:
        """``value`` with this interval's relative width: a figure proportional to the point."""
        if self.point == 0:
            return Interval(value, value, value)
        return Interval(value, value * self.lo / self.point, value * self.hi / self.point)

    def overlaps(self, other: Interval) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi
