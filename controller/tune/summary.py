"""What a tune found on each device, decided here and rendered by ``reports/tune.py``.

Per device: the recommended configuration with its interval and the contenders it cannot be
told apart from, the Pareto set of the configurations measured (p99, $/M inferences,
J/inference, error: none of them better in every figure than another), and what was pruned
and why. Figures that could not be computed are None with the reason, never zero; a figure
derived from an assumption (a nameplate power, a simulated device) says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rigbench.controller.cost import Measurement, estimate_cost, resolve_power
from rigbench.controller.tune.config import Config
from rigbench.controller.tune.driver import DeviceTune, TuneResult
from rigbench.controller.tune.race import Entry, RaceOutcome


@dataclass(frozen=True)
class Row:
    """One measured configuration, as the tables show it."""

    config: Config
    trials: int
    iterations: int
    median_ms: float
    median_ci_ms: tuple[float, float] | None
    objective: float | None
    objective_ci: tuple[float, float] | None
    p99_ms: float
    usd_per_million: float | None
    joules: float | None
    energy_basis: str  # measured | estimated (nameplate) | simulated | unknown
    error: float | None
    error_unknown: str | None
    status: str  # recommended | tied | contender | pruned: <kind>
    why: str = ""
    front: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.config.variant,
            "runtime": self.config.runtime,
            "provider": self.config.provider or None,
            "threads": self.config.threads or None,
            "settings": dict(self.config.settings),
            "entry": self.config.name,
            "trials": self.trials,
            "iterations": self.iterations,
            "median_ms": self.median_ms,
            "median_ci_ms": list(self.median_ci_ms) if self.median_ci_ms else None,
            "objective": self.objective,
            "objective_ci": list(self.objective_ci) if self.objective_ci else None,
            "p99_ms": self.p99_ms,
            "usd_per_million": self.usd_per_million,
            "joules_per_inference": self.joules,
            "energy_basis": self.energy_basis,
            "max_abs_err": self.error,
            "accuracy_unknown": self.error_unknown,
            "status": self.status,
            "why": self.why or None,
            "pareto": self.front,
        }


@dataclass
class DeviceSummary:
    device: str
    error: str | None
    space: str
    left_out: list[str]
    objective: str
    unit: str
    confidence: float | None
    budget_s: float
    spent_s: float
    stop_reason: str
    rungs: list[dict[str, Any]]
    recommended: Row | None
    ties: list[Row]
    why_none: str | None
    rows: list[Row]  # every measured configuration, best objective first
    pruned: list[tuple[str, int]]  # (kind, count)
    never_measured: int
    # Pruned before any latency was measured (a failure): (configuration, kind, why).
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def front(self) -> list[Row]:
        return [r for r in self.rows if r.front]


def pareto(points: Sequence[Sequence[float | None]]) -> list[bool]:
    """Which points no other point dominates (minimising every coordinate).

    A coordinate unknown (None) for any point is left out for all: a front cannot compare
    what was not measured. Equal points are all on the front.
    """
    if not points:
        return []
    dims = [i for i in range(len(points[0])) if all(p[i] is not None for p in points)]
    vals = [[float(p[i]) for i in dims] for p in points]  # type: ignore[arg-type]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return [not any(dominates(o, v) for o in vals if o is not v) for v in vals]


def _row(
    e: Entry, out: RaceOutcome, tune: DeviceTune, status: str, why: str, key_fn: Any
) -> Row | None:
    ev = e.evidence
    if ev is None or ev.median is None:
        return None
    cost = tune.device.cost
    ips = 1.0 / ev.per_inference_s if ev.per_inference_s > 0 else None
    m = Measurement(
        throughput_ips=ips,
        avg_power_mw=ev.power_w * 1000.0 if ev.power_w is not None else None,
        simulated=tune.simulated,
    )
    power = resolve_power(m, cost)
    acc = out.accuracy.get(key_fn(e.config))
    iv = e.interval
    return Row(
        config=e.config,
        trials=ev.trials,
        iterations=ev.iterations,
        median_ms=ev.median.median / 1e6,
        median_ci_ms=(ev.median.low / 1e6, ev.median.high / 1e6),
        objective=iv.point if iv else None,
        objective_ci=(iv.lo, iv.hi) if iv else None,
        p99_ms=ev.p99_ns / 1e6,
        usd_per_million=estimate_cost(cost, m).usd_per_million,
        joules=power.energy_per_inference_mj / 1000.0
        if power.energy_per_inference_mj is not None
        else None,
        energy_basis=power.label,
        error=acc.error if acc else None,
        error_unknown=(acc.unknown if acc else "not measured"),
        status=status,
        why=why,
    )


def summarize(result: TuneResult) -> list[DeviceSummary]:
    from rigbench.controller.tune.driver import accuracy_key

    out: list[DeviceSummary] = []
    for tune in result.devices:
        o = tune.outcome
        space = tune.space
        if o is None:
            out.append(
                DeviceSummary(
                    tune.device.name,
                    tune.error,
                    "",
                    [],
                    result.request.objective.value,
                    "",
                    None,
                    result.request.budget_s,
                    0.0,
                    tune.error or "not tuned",
                    [],
                    None,
                    [],
                    tune.error,
                    [],
                    [],
                    0,
                )  # fmt: skip
            )
            continue
        rec = o.recommended
        tied = {id(t) for t in o.ties}
        rows: list[Row] = []
        for e in o.entries:
            if e is rec:
                status, why = "recommended", ""
            elif id(e) in tied:
                status, why = "tied", "its interval overlaps the recommendation's"
            elif e.pruned is not None:
                status, why = f"pruned: {e.pruned.kind.value}", e.pruned.detail
            else:
                status, why = "contender", ""
            row = _row(e, o, tune, status, why, accuracy_key)
            if row is not None:
                rows.append(row)
        # The front: configurations still standing or dropped only for being slower (a
        # failed one, or one that breaks a constraint, is no deployment choice).
        eligible = [
            r for r in rows if not r.status.startswith("pruned") or r.status == "pruned: dominated"
        ]
        flags = pareto([(r.p99_ms, r.usd_per_million, r.joules, r.error) for r in eligible])
        on_front = {id(r) for r, f in zip(eligible, flags) if f}
        rows = [_with_front(r, id(r) in on_front) for r in rows]
        rows.sort(key=lambda r: (r.objective is None, r.objective or math.inf))
        rec_row = next((r for r in rows if r.status == "recommended"), None)
        notes = []
        if tune.simulated:
            notes.append(f"{tune.device.name} is simulated: its power and energy are simulated")
        if tune.emulated:
            notes.append(
                f"{tune.device.name} is emulated (qemu-user): its speed says nothing about real "
                "hardware"
            )
        if any(r.energy_basis.startswith("estimated") for r in rows):
            notes.append(
                "energy (and owned-device cost) from the inventory's nameplate_w: estimated"
            )
        out.append(
            DeviceSummary(
                device=tune.device.name,
                error=tune.error,
                space=_space_text(space),
                left_out=list(space.left_out) if space else [],
                objective=o.objective.name,
                unit=o.objective.unit,
                confidence=o.confidence,
                budget_s=o.budget_s,
                spent_s=o.spent_s,
                stop_reason=o.stop_reason,
                rungs=[
                    {
                        "rung": r.index,
                        "measured_s": r.duration_s,
                        "trials": r.measured,
                        "pruned": r.pruned,
                        "skipped": r.skipped,
                    }
                    for r in o.rungs
                ],
                recommended=rec_row,
                ties=[r for r in rows if r.status == "tied"],
                why_none=o.why_none,
                rows=rows,
                pruned=sorted(Counter(e.pruned.kind.value for e in o.entries if e.pruned).items()),
                never_measured=sum(1 for e in o.entries if not e.trials),
                failed=[
                    (e.config.key, e.pruned.kind.value, e.pruned.detail)
                    for e in o.entries
                    if e.pruned is not None and e.evidence is None
                ],
                notes=notes,
            )
        )
    return out


def _with_front(r: Row, front: bool) -> Row:
    from dataclasses import replace

    return replace(r, front=front)


def _space_text(space: Any) -> str:
    from rigbench.controller.tune.space import describe_space

    return describe_space(space) if space is not None else ""
