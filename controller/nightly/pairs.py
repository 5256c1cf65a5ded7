"""Tonight's artifact against the baseline night's, measured in pairs on the same device tonight.

Comparing tonight's numbers with numbers measured on other nights asks the history to know
how much a device moves from night to night; on a shared machine it moves by tens of percent,
so the history can only see large changes, and a busy neighbour makes it cry wolf. A pair
asks a smaller question: measured now, one after the other, is tonight's artifact slower than
the baseline night's? Both run in randomized interleaved rounds (``controller/compare``), and
the verdict rests on the rounds' paired ratios. The history stays as context.

* The **baseline night** of a series is the newest night of its baseline (same device
  fingerprint and runtime configuration) whose latency was not reported as a regression, or
  one accepted with ``rigbench baseline accept``; with ``--pin``, the pinned run's night. A
  regression therefore stays reported, night after night, until it is fixed or accepted.
* Its artifact comes back from the compile cache (the store keeps its path) or, where the file
  is gone, from the agent's own cache. Where neither has it the series is judged on its
  history, and the report says so.
* Where nothing changed (the same artifact), the pair is an **A/A check**: it measures tonight's
  noise. "Same" is what it should say; if it cannot decide, or (by chance, at most alpha) tells
  the two apart, the device was not measuring consistently tonight: not enough evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rigbench.controller.baseline import Baseline, Night
from rigbench.controller.compare.paired import Change
from rigbench.controller.compare.runner import CompareSettings, PairOutcome, PairPlan
from rigbench.controller.compare.subjects import subject_from_job
from rigbench.controller.inventory import Device
from rigbench.controller.nightly.verdicts import Outcome, Policy, Verdict
from rigbench.controller.store.db import Store

DEFAULT_PAIR_ROUNDS = 10
DEFAULT_PAIR_ROUND_S = 1.0


@dataclass(frozen=True)
class PairSettings:
    """How tonight's pairs are measured (``rigbench nightly --pair-rounds ...``)."""

    enabled: bool = True
    rounds: int = DEFAULT_PAIR_ROUNDS
    max_rounds: int | None = None
    round_s: float = DEFAULT_PAIR_ROUND_S

    def compare(self, policy: Policy) -> CompareSettings:
        return CompareSettings(
            rounds=self.rounds,
            max_rounds=self.max_rounds,
            min_effect=policy.min_effect,
            alpha=policy.alpha,
            round_s=self.round_s,
        )


def pair_reference(
    baseline: Baseline, regressed: frozenset[str], accepted: frozenset[str]
) -> Night | None:
    """The baseline night whose artifact tonight's is measured against, or None.

    ``regressed`` are runs whose latency check for this series was a regression, ``accepted``
    runs accepted as its baseline since.
    """
    if baseline.new_baseline:
        return None
    if baseline.pinned:
        return baseline.nights[0] if baseline.nights else None
    candidates = baseline.candidates or baseline.nights
    for n in candidates:
        if n.run_id in accepted or n.run_id not in regressed:
            return n
    return candidates[0] if candidates else None


def plan_pair(store: Store, device: Device, tonight: Night, reference: Night) -> PairPlan:
    """A: the reference night's artifact; B: tonight's; both on tonight's runtime and inputs."""
    a = subject_from_job(store, "A", reference.job_id, f"{reference.run_id} (baseline night)")
    b = subject_from_job(store, "B", tonight.job_id, f"{tonight.run_id} (tonight)")
    # The identity matched, so the configuration is the same: both get tonight's exactly.
    a.runtime, a.overrides = b.runtime, b.overrides
    if a.stored is not None and b.stored is not None:
        a.stored.inputs_npz = b.stored.inputs_npz
    return PairPlan(
        tonight.job_key, device, a, b, scenario=tonight.scenario, baseline_run=reference.run_id
    )


def latency_from_pair(pair: PairOutcome, history: Verdict, same_artifact: bool) -> Verdict:
    """The latency verdict of a series from its pair, with the history's as context."""
    v = pair.verdict
    context = Verdict(
        Outcome.NOT_ENOUGH_EVIDENCE,
        basis="A/A" if same_artifact else "paired",
        noise_sd=history.noise_sd,
        history_ratio=history.ratio,
        history_outcome=history.outcome.value,
    )
    if pair.problems or v is None:
        why = "; ".join(pair.problems) or "no paired rounds"
        return replace(context, reason=f"paired rounds lost: {why}")
    figures = replace(
        context,
        outcome=Outcome.NO_CHANGE,
        tonight=_median([r.b_p50_ns for r in pair.rounds]),
        baseline=_median([r.a_p50_ns for r in pair.rounds]),
        ratio=v.ratio,
        ci_low=v.ci_low,
        ci_high=v.ci_high,
        threshold=v.min_effect,
        reason=v.reason,
        rounds=v.rounds,
        round_spread=v.spread,
    )
    if v.change is Change.INCONCLUSIVE:
        return replace(
            figures,
            outcome=Outcome.NOT_ENOUGH_EVIDENCE,
            reason=pair.noisy or f"device too noisy tonight: {v.reason}",
        )
    if same_artifact:
        if v.change is Change.SAME:
            return replace(figures, reason=f"A/A check (unchanged artifact): {v.reason}")
        return replace(
            figures,
            outcome=Outcome.NOT_ENOUGH_EVIDENCE,
            reason=(
                f"A/A check: the same artifact measured {v.ratio - 1:+.1%} apart "
                f"({v.ci_low:.3f}-{v.ci_high:.3f}): the device is not measuring consistently "
                f"tonight ({pair.host.describe()})"
            ),
        )
    outcome = {
        Change.SLOWER: Outcome.REGRESSION,
        Change.FASTER: Outcome.IMPROVEMENT,
        Change.SAME: Outcome.NO_CHANGE,
    }[v.change]
    return replace(figures, outcome=outcome)


def _median(values: Sequence[float | None]) -> float | None:
    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def regressed_runs(store: Store, run_ids: Sequence[str]) -> Mapping[str, frozenset[str]]:
    """Per series: the runs whose latency check reported a regression."""
    if not run_ids:
        return {}
    rows = store.query(
        "SELECT series, run_id FROM nightly_checks WHERE metric = 'latency_p50' "
        "AND outcome = 'regression' AND run_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(run_ids)],
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["series"], set()).add(r["run_id"])
    return {k: frozenset(v) for k, v in out.items()}
