"""Pure statistics for nightly regression checks: numpy and the standard library only.

Why these pieces, and not one test alone:

* Per-iteration latencies of one night are many and autocorrelated, so a rank test on them
  (Mann-Whitney) calls almost any shift "significant". It answers "did tonight's samples move",
  and the bootstrap confidence interval of the median ratio says by how much.
* Nights differ from each other by more than that sampling error (load, placement, caches).
  The *noise floor* is a prediction bound for a new night's median, learned from the spread of
  past nightly medians: the pooled variance of a prior guess and the history (the conjugate
  scaled-inverse-chi-square update), and a Student t quantile for its degrees of freedom.
  One noisy night therefore widens the bound instead of paging someone.
* A change must also exceed a minimum effect (default 3 %) that a team cares about.

A regression needs all three: significant samples, an effect whose confidence bound clears the
minimum effect, and a median ratio beyond the noise floor. Scalars measured once per night
(energy per inference, peak memory) only have the nightly values, so they get the noise floor
and the minimum effect. No scipy: the Student t and normal distributions come from
``rigbench.stats`` (shared with the agent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from rigbench.stats import normal_sf, t_ppf, t_sf


class Outcome(str, Enum):
    """What one comparison concluded.

    The first four are decided by the statistics here (or by the paired rounds,
    ``controller/nightly/pairs.py``); the rest by circumstance: the device was too noisy tonight
    to decide (the farm's problem: exit 2), the conditions changed, the job failed for the
    model's own reasons, or the farm failed.
    """

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no change"
    NOT_ENOUGH_DATA = "not enough data"
    NOT_ENOUGH_EVIDENCE = "not enough evidence"
    NEW_BASELINE = "new baseline"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True)
class Policy:
    """How sure, and how large, a change must be before it is reported."""

    min_effect: float = 0.03  # relative; smaller changes are never reported
    alpha: float = 0.01  # one-sided false-alarm level of each comparison
    noise_prior: float = 0.02  # guessed night-to-night sd of log medians, before history
    noise_prior_nights: float = 1.0  # how many nights of evidence that guess is worth
    min_samples: int = 20  # fewer per-iteration latencies than this: not enough data
    n_boot: int = 4000
    seed: int = 0  # the bootstrap is deterministic
    accuracy_rel_tol: float = 0.10  # max abs err may grow by this fraction ...
    accuracy_abs_tol: float = 1e-6  # ... or by this much, whichever is larger
    memory_noise_prior: float = 0.01
    energy_noise_prior: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not 0 <= self.min_effect < 1:
            raise ValueError(f"min_effect must be in [0, 1), got {self.min_effect}")
        if self.noise_prior < 0 or self.noise_prior_nights < 0:
            raise ValueError("the noise prior and its weight must not be negative")


@dataclass(frozen=True)
class Verdict:
    """One comparison: the outcome and every figure it was decided from."""

    outcome: Outcome
    tonight: float | None = None  # the figure tonight (median latency ns, bytes, mJ, error)
    baseline: float | None = None  # the baseline's centre for the same figure
    ratio: float | None = None  # tonight / baseline
    ci_low: float | None = None  # confidence interval of the ratio (latency only)
    ci_high: float | None = None
    p_value: float | None = None  # one-sided, in the direction of the change
    threshold: float | None = None  # relative change needed: max(min effect, noise floor)
    noise_sd: float | None = None  # learned night-to-night sd of log values
    reason: str = ""
    basis: str = ""  # latency: "paired" (tonight's rounds), "A/A" (unchanged), "history"
    rounds: int | None = None  # paired rounds the verdict rests on
    round_spread: float | None = None  # MAD of the rounds' log ratios: tonight's noise
    history_ratio: float | None = None  # paired: tonight against the history, for context
    history_outcome: str | None = None  # paired: what the history alone would have said


# --- rank test ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MannWhitney:
    """Mann-Whitney U of x against y, normal approximation with tie and continuity correction."""

    u: float  # count of pairs with x > y, ties counting one half
    z: float
    p_greater: float  # one-sided p-value for "x tends to be larger than y"
    p_less: float  # one-sided p-value for "x tends to be smaller than y"


def average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks with ties given their average rank, and the size of every tie group."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks, counts


def mann_whitney(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> MannWhitney:
    """Rank test of two independent samples; needs at least one value in each."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    n1, n2 = xa.size, ya.size
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks, ties = average_ranks(np.concatenate([xa, ya]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = float(np.sum(ties.astype(np.float64) ** 3 - ties)) / (n * (n - 1)) if n > 1 else 0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:  # every value equal: no evidence either way
        return MannWhitney(u, 0.0, 1.0, 1.0)
    sd = math.sqrt(var)
    z = (u - mu) / sd
    return MannWhitney(
        u,
        z,
        p_greater=min(1.0, normal_sf((u - mu - 0.5) / sd)),
        p_less=min(1.0, normal_sf((mu - u - 0.5) / sd)),
    )


# --- bootstrap -----------------------------------------------------------------------------------
def bootstrap_medians(x: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the median of a bootstrap resample of ``x``, without resampling.

    The median of a resample is the sorted sample's k-th value with a probability that depends
    on n only: it is at most x_(k) when at least ceil(n/2) of the n draws are at most x_(k),
    a Binomial(n, k/n) tail (normal approximation, continuity-corrected). Sampling k from that
    law is the bootstrap at the cost of a sort instead of ``n_draws * n`` draws (for even n the
    upper middle value is taken as the next sorted value, a close approximation).
    """
    s = np.sort(np.asarray(x, dtype=np.float64))
    n = s.size
    m = (n + 1) // 2
    half = 8.0 * math.sqrt(n) + 2.0
    ks = np.arange(max(1, math.floor(n / 2 - half)), min(n, math.ceil(n / 2 + half)) + 1)
    var = ks * (1.0 - ks / n)
    with np.errstate(divide="ignore"):
        z = np.where(var > 0, (ks - m + 0.5) / np.sqrt(np.where(var > 0, var, 1.0)), np.inf)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z])
    cdf[-1] = 1.0
    k = ks[np.minimum(np.searchsorted(cdf, rng.random(n_draws)), ks.size - 1)]
    if n % 2:
        return s[k - 1]
    return (s[k - 1] + s[np.minimum(k, n - 1)]) / 2.0  # the upper middle value, approximately


def bootstrap_ratio_ci(
    tonight: np.ndarray,
    baseline_nights: Sequence[np.ndarray],
    confidence: float,
    n_boot: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of median(tonight) / median of the baseline nights' medians.

    Each night is resampled on its own (nights are not exchangeable), so the interval is the
    sampling error of the medians; the night-to-night spread is the noise floor's job.
    """
    rng = np.random.default_rng(seed)
    t = bootstrap_medians(tonight, n_boot, rng)
    per_night = np.stack([bootstrap_medians(b, n_boot, rng) for b in baseline_nights])
    ratios = t / np.median(per_night, axis=0)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ratios, [tail, 1.0 - tail])
    return float(lo), float(hi)


# --- noise floor --------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseFloor:
    """Night-to-night sd of log values, and the degrees of freedom it rests on."""

    sd: float
    df: float

    def bound(self, alpha: float, n_baseline: int) -> float:
        """Largest |log ratio| a no-change night reaches with probability 1 - alpha.

        The prediction bound for one new night against the centre of ``n_baseline`` nights.
        """
        if self.sd == 0.0 or n_baseline < 1:
            return 0.0
        return t_ppf(1.0 - alpha, self.df) * self.sd * centre_factor(n_baseline)


def centre_factor(n_baseline: int) -> float:
    """The sd of (new night - centre of n nights), in units of the nightly sd.

    The centre is the median of the nightly figures (one odd night barely moves it); a median
    of three or more nights varies about pi/2 times as much as their mean would.
    """
    efficiency = 1.0 if n_baseline <= 2 else math.pi / 2.0
    return math.sqrt(1.0 + efficiency / n_baseline)


def noise_floor(history: Sequence[float], prior_sd: float, prior_nights: float) -> NoiseFloor:
    """Pool a prior guess of the nightly spread with the spread of past nightly values.

    ``history`` are positive nightly figures (medians, bytes, mJ); their logs' sample variance
    has ``len - 1`` degrees of freedom, the prior ``prior_nights``. With no prior weight and one
    night there is nothing to learn from: infinite sd.
    """
    logs = np.log(np.asarray([h for h in history if h and h > 0], dtype=np.float64))
    k = logs.size - 1
    ss = float(np.sum((logs - logs.mean()) ** 2)) if k > 0 else 0.0
    df = prior_nights + max(k, 0)
    if df <= 0:
        return NoiseFloor(math.inf, 1.0)
    return NoiseFloor(math.sqrt((prior_nights * prior_sd**2 + ss) / df), df)


# --- decisions ----------------------------------------------------------------------------------
def _limits(policy: Policy, floor: NoiseFloor, n_baseline: int) -> tuple[float, float, float]:
    """Log-ratio limits up and down, and the noise bound, for the policy and noise."""
    bound = floor.bound(policy.alpha, n_baseline)
    up = max(math.log1p(policy.min_effect), bound)
    down = max(-math.log1p(-policy.min_effect), bound)
    return up, down, bound


def compare_latency(
    tonight: np.ndarray,
    baseline_nights: Sequence[np.ndarray],
    history_medians: Sequence[float],
    policy: Policy,
) -> Verdict:
    """Tonight's per-iteration latencies against the baseline nights' latencies.

    ``history_medians`` are the nightly medians the noise floor is learned from (the
    baseline nights, and more when a pinned run is the baseline).
    """
    tonight = np.asarray(tonight, dtype=np.float64)
    nights = [np.asarray(b, dtype=np.float64) for b in baseline_nights]
    nights = [b for b in nights if b.size >= policy.min_samples]
    if tonight.size < policy.min_samples:
        return Verdict(
            Outcome.NOT_ENOUGH_DATA,
            reason=f"{tonight.size} latency samples tonight, {policy.min_samples} needed",
        )
    if not nights:
        return Verdict(
            Outcome.NOT_ENOUGH_DATA,
            tonight=float(np.median(tonight)),
            reason="no baseline night with enough latency samples",
        )
    med = float(np.median(tonight))
    centre = float(np.median([np.median(b) for b in nights]))
    ratio = med / centre
    floor = noise_floor(history_medians, policy.noise_prior, policy.noise_prior_nights)
    up, down, bound = _limits(policy, floor, len(nights))
    lo, hi = bootstrap_ratio_ci(tonight, nights, 1 - 2 * policy.alpha, policy.n_boot, policy.seed)
    mw = mann_whitney(tonight, np.concatenate(nights))
    log_ratio = math.log(ratio)
    base = Verdict(
        Outcome.NO_CHANGE, tonight=med, baseline=centre, ratio=ratio, ci_low=lo, ci_high=hi,
        noise_sd=floor.sd,
    )  # fmt: skip
    if log_ratio > 0:
        p, threshold = mw.p_greater, math.expm1(up)
        if log_ratio > up and lo > 1 + policy.min_effect and p < policy.alpha:
            return replace(base, outcome=Outcome.REGRESSION, p_value=p, threshold=threshold)
        why = _why_not(log_ratio, up, bound, lo > 1 + policy.min_effect, p, policy)
    else:
        p, threshold = mw.p_less, -math.expm1(-down)
        if -log_ratio > down and hi < 1 - policy.min_effect and p < policy.alpha:
            return replace(base, outcome=Outcome.IMPROVEMENT, p_value=p, threshold=threshold)
        why = _why_not(-log_ratio, down, bound, hi < 1 - policy.min_effect, p, policy)
    return replace(base, p_value=p, threshold=threshold, reason=why)


def _why_not(
    size: float, limit: float, bound: float, ci_clear: bool, p: float, policy: Policy
) -> str:
    if size <= limit:
        if bound > math.log1p(policy.min_effect) and size > math.log1p(policy.min_effect):
            return f"within the noise floor (±{math.expm1(bound):.1%} night to night)"
        return f"smaller than the minimum effect {policy.min_effect:.0%}"
    if not ci_clear:
        return f"confidence interval reaches into the minimum effect {policy.min_effect:.0%}"
    return f"not significant (p = {p:.2g}, alpha {policy.alpha:g})"


def compare_scalar(
    tonight: float | None,
    baseline: Sequence[float],
    history: Sequence[float],
    policy: Policy,
    prior_sd: float,
) -> Verdict:
    """A figure measured once per night, where lower is better (energy, peak memory)."""
    values = [float(b) for b in baseline if b is not None and b > 0]
    if tonight is None or not tonight > 0:
        return Verdict(Outcome.NOT_ENOUGH_DATA, reason="not measured tonight")
    if not values:
        return Verdict(Outcome.NOT_ENOUGH_DATA, tonight=tonight, reason="not measured before")
    centre = float(np.median(values))
    ratio = tonight / centre
    floor = noise_floor([h for h in history if h], prior_sd, policy.noise_prior_nights)
    up, down, _ = _limits(policy, floor, len(values))
    scale = floor.sd * centre_factor(len(values))
    log_ratio = math.log(ratio)
    z = abs(log_ratio) / scale if scale > 0 else math.inf
    p = t_sf(z, floor.df) if math.isfinite(floor.sd) else 1.0
    base = Verdict(
        Outcome.NO_CHANGE, tonight=tonight, baseline=centre, ratio=ratio, noise_sd=floor.sd,
        p_value=p,
    )  # fmt: skip
    if log_ratio > up:
        return replace(base, outcome=Outcome.REGRESSION, threshold=math.expm1(up))
    if -log_ratio > down:
        return replace(base, outcome=Outcome.IMPROVEMENT, threshold=-math.expm1(-down))
    return replace(
        base,
        threshold=math.expm1(up) if log_ratio > 0 else -math.expm1(-down),
        reason="within the noise floor and minimum effect",
    )


def compare_accuracy(
    tonight: float | None,
    tonight_ok: bool | None,
    baseline: Sequence[float],
    baseline_ok: Sequence[bool | None],
    policy: Policy,
) -> Verdict:
    """Max abs error against the fp32 reference: deterministic, so no noise model.

    A regression when tonight's error exceeds the worst baseline night by more than the
    tolerance, or when the plan's tolerance was met before and is not met tonight.
    """
    values = [float(b) for b in baseline if b is not None and math.isfinite(b)]
    if tonight is None:
        return Verdict(Outcome.NOT_ENOUGH_DATA, reason="accuracy not measured tonight")
    if not math.isfinite(tonight):
        return Verdict(Outcome.REGRESSION, tonight=tonight, reason="non-finite outputs")
    if not values:
        return Verdict(
            Outcome.NOT_ENOUGH_DATA, tonight=tonight, reason="accuracy not measured before"
        )
    worst, best = max(values), min(values)
    margin_up = max(policy.accuracy_abs_tol, policy.accuracy_rel_tol * worst)
    margin_down = max(policy.accuracy_abs_tol, policy.accuracy_rel_tol * best)
    ratio = tonight / worst if worst > 0 else None
    base = Verdict(Outcome.NO_CHANGE, tonight=tonight, baseline=worst, ratio=ratio)
    if tonight_ok is False and any(ok is True for ok in baseline_ok):
        return replace(
            base,
            outcome=Outcome.REGRESSION,
            reason="the plan's accuracy tolerance is no longer met",
        )
    if tonight > worst + margin_up:
        return replace(
            base,
            outcome=Outcome.REGRESSION,
            threshold=margin_up,
            reason=f"max abs err grew beyond the worst baseline night by more than {margin_up:.3g}",
        )
    if tonight < best - margin_down:
        return replace(base, outcome=Outcome.IMPROVEMENT, threshold=margin_down)
    return replace(base, threshold=margin_up)
