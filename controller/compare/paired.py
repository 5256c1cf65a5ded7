"""The verdict of a paired comparison: B against A from per-round latency ratios.

Each round measures A and B once, back to back on the same device, in a random order; its
ratio median(B) / median(A) cancels whatever that moment of the device added to both. The
rounds' log ratios are then a sample whose centre is the change B made:

* **Estimate**: the Hodges-Lehmann estimator, the median of the Walsh averages (every pair's
  mean, each round with itself included). A round spoilt by a neighbour's burst moves it far
  less than it moves a mean.
* **Interval**: the Wilcoxon signed-rank interval around it, exact for up to ``EXACT_MAX``
  rounds (the null distribution by counting), normal beyond. It assumes the log ratios are
  symmetric around their centre, which the random order within rounds provides when nothing
  changed (A first and B first are equally likely, so +x and -x are too).
* **Verdict** at the minimum effect d: ``slower`` when the whole interval lies above 1 and the
  estimate is at least 1 + d; ``faster`` the mirror image; ``same`` when neither, provided the
  interval is no wider than +-d (the rounds could have seen a change of d); otherwise
  ``inconclusive``: the device was too noisy to decide, which is the farm's problem, not a
  verdict on B.

The interval's level is 1 - 2 alpha (98 % by default), so on an A/A comparison "slower" is
reported with probability at most alpha (1 %) whatever the noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from rigbench.stats import normal_sf, z_value

EXACT_MAX = 60


class Change(str, Enum):
    SLOWER = "slower"
    FASTER = "faster"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class PairedVerdict:
    """B relative to A: ratio of B's latency to A's (above 1: B is slower)."""

    change: Change
    ratio: float  # Hodges-Lehmann estimate of median(B) / median(A)
    ci_low: float
    ci_high: float
    confidence: float  # attained level of the interval (>= the one asked for)
    rounds: int
    min_effect: float
    spread: float  # median absolute deviation of the rounds' log ratios: tonight's noise
    reason: str

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0

    def to_dict(self) -> dict[str, object]:
        return {
            "change": self.change.value,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "rounds": self.rounds,
            "min_effect": self.min_effect,
            "spread": self.spread,
            "reason": self.reason,
        }


@functools.lru_cache(maxsize=128)
def _signed_rank_cdf(n: int) -> tuple[float, ...]:
    """P(T+ <= t) for t = 0 .. n(n+1)/2, the exact null law of Wilcoxon's signed-rank sum."""
    total = n * (n + 1) // 2
    counts = [0] * (total + 1)
    counts[0] = 1
    top = 0
    for r in range(1, n + 1):
        top += r
        for s in range(top, r - 1, -1):
            counts[s] += counts[s - r]
    cum, out = 0, []
    denom = 2.0**n
    for c in counts:
        cum += c
        out.append(cum / denom)
    return tuple(out)


def signed_rank_critical(n: int, alpha: float) -> int | None:
    """The largest c with P(T+ <= c) <= alpha under no change; None if even c = 0 is too likely.

    The interval is then [W_(c+1), W_(M-c)] of the M sorted Walsh averages, at level at least
    1 - 2 alpha.
    """
    if n < 1:
        return None
    if n <= EXACT_MAX:
        cdf = _signed_rank_cdf(n)
        below = [c for c, p in enumerate(cdf) if p <= alpha]
        return below[-1] if below else None
    mean = n * (n + 1) / 4.0
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    c = math.floor(mean - z_value(1.0 - 2.0 * alpha) * sd - 0.5)
    return c if c >= 0 else None


def min_rounds(alpha: float) -> int:
    """Fewest rounds whose signed-rank interval exists at level 1 - 2 alpha."""
    n = 1
    while signed_rank_critical(n, alpha) is None:
        n += 1
    return n


def walsh_averages(x: np.ndarray) -> np.ndarray:
    """Sorted (x_i + x_j) / 2 for every i <= j."""
    i, j = np.triu_indices(x.size)
    return np.sort((x[i] + x[j]) / 2.0)


def attained_confidence(n: int, c: int) -> float:
    """The level of the interval [W_(c+1), W_(M-c)]: 1 - 2 P(T+ <= c)."""
    if n <= EXACT_MAX:
        return 1.0 - 2.0 * _signed_rank_cdf(n)[c]
    mean = n * (n + 1) / 4.0
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    return 1.0 - 2.0 * normal_sf((mean - c - 0.5) / sd)


def paired_verdict(
    ratios: Sequence[float], min_effect: float = 0.03, alpha: float = 0.01
) -> PairedVerdict:
    """Judge B against A from per-round ratios median(B) / median(A)."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0 <= min_effect < 1:
        raise ValueError(f"min_effect must be in [0, 1), got {min_effect}")
    r = np.asarray([float(v) for v in ratios], dtype=np.float64)
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError("ratios must be positive and finite")
    logs = np.log(r)
    n = logs.size
    c = signed_rank_critical(n, alpha)
    if c is None:
        raise ValueError(
            f"{n} round(s) are too few for a {1 - 2 * alpha:.0%} interval: "
            f"at least {min_rounds(alpha)} are needed"
        )
    walsh = walsh_averages(logs)
    centre = float(np.median(walsh))
    lo, hi = float(walsh[c]), float(walsh[walsh.size - 1 - c])
    spread = float(np.median(np.abs(logs - np.median(logs))))
    up = math.log1p(min_effect)
    down = -math.log1p(-min_effect) if min_effect > 0 else 0.0
    ratio, ci_low, ci_high = math.exp(centre), math.exp(lo), math.exp(hi)
    half = (hi - lo) / 2.0
    if lo > 0 and centre >= up:
        change, why = Change.SLOWER, f"B is slower by {ratio - 1:.1%}"
    elif hi < 0 and -centre >= down:
        change, why = Change.FASTER, f"B is faster by {1 - ratio:.1%}"
    elif half <= up:
        change = Change.SAME
        why = (
            f"no change of {min_effect:.0%} or more"
            if lo <= 0 <= hi
            else f"a change of {ratio - 1:+.1%}, smaller than the minimum effect {min_effect:.0%}"
        )
    else:
        change = Change.INCONCLUSIVE
        why = (
            f"the rounds disagree too much to decide at {min_effect:.0%}: interval "
            f"{ci_low:.3f}-{ci_high:.3f} (+-{math.expm1(half):.1%}) is wider than "
            f"+-{min_effect:.0%}"
        )
    return PairedVerdict(
        change, ratio, ci_low, ci_high, attained_confidence(n, c), n, min_effect, spread, why
    )
