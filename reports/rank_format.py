"""Cells and plain dicts for a ranking, shared by the table, Markdown, JSON and HTML views.

Every view must say the same thing: a missing figure is "n/a" (never 0), an unknown cost is
"unknown" (never free), and a figure derived from nameplate power or replayed telemetry
carries "est." or "sim." right next to the number.
"""

from __future__ import annotations

import math
from typing import Any

from rigbench.controller.cost import Basis, CostEstimate, PowerBasis
from rigbench.controller.ranking.rank import Choice, RankBy, Ranking
from rigbench.reports.emulated import device_label
from rigbench.reports.tables import NOT_AVAILABLE
from rigbench.stats import Interval

UNKNOWN_COST = "unknown"
BY_TITLE = {
    RankBy.cost: "cost per million inferences",
    RankBy.energy: "energy per inference",
    RankBy.latency: "latency",
}


def num(v: float | None, digits: int = 3) -> str:
    """``digits`` significant digits without scientific notation for everyday magnitudes."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NOT_AVAILABLE
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag >= 6 or mag < -4:
        return f"{v:.{digits}g}"
    decimals = max(0, digits - 1 - mag)
    return f"{v:,.{decimals}f}" if abs(v) >= 10_000 else f"{v:.{decimals}f}"


def qualifier(basis: PowerBasis) -> str:
    """The short tag a power-derived figure carries."""
    return {PowerBasis.nameplate: " est.", PowerBasis.simulated: " sim."}.get(basis, "")


def cost_qualifier(cost: CostEstimate) -> str:
    return " est." if cost.estimated else " sim." if cost.simulated else ""


def rank_cell(c: Choice) -> str:
    if c.rank is None:
        return "-"
    return f"{c.rank}=" if c.tied else str(c.rank)


def interval_cell(i: Interval | None) -> str:
    if i is None:
        return NOT_AVAILABLE
    return f"{num(i.lo)}-{num(i.hi)}"


def power_cell(c: Choice) -> str:
    p = c.cost.power
    return num(p.watts) + qualifier(p.basis) if p.watts is not None else NOT_AVAILABLE


def energy_cell(c: Choice) -> str:
    p = c.cost.power
    e = p.energy_per_inference_mj
    return num(e) + qualifier(p.basis) if e is not None else NOT_AVAILABLE


def cost_cell(c: Choice) -> str:
    if c.cost.usd_per_million is None:
        return UNKNOWN_COST
    return num(c.cost.usd_per_million) + cost_qualifier(c.cost)


def device_cell(c: Choice) -> str:
    """The device name, labelled when it was emulated (its figures are not a device's)."""
    return device_label(c.device, c.emulated)


def runtime_cell(c: Choice) -> str:
    """``ort-cpu (CPU)``: the plan's runtime entry and the provider actually used."""
    if not c.providers:
        return c.runtime_name
    short = ",".join(p.removesuffix("ExecutionProvider") for p in c.providers.split(","))
    return f"{c.runtime_name} ({short})"


def error_cell(c: Choice) -> str:
    """The worst output's error relative to its range; 'unknown' when it could not be made."""
    if c.accuracy_unknown:
        return "unknown"
    return num(c.max_rel_err, 2)


def snr_cell(c: Choice) -> str:
    if c.accuracy_unknown:
        return "unknown"
    if c.snr_db is not None and math.isinf(c.snr_db):
        return "inf" if c.snr_db > 0 else "-inf"
    return num(c.snr_db, 3)


def throttled_cell(c: Choice) -> str:
    if c.throttled is None:
        return NOT_AVAILABLE
    return ("yes" if c.throttled else "no") + (" sim." if c.simulated else "")


def basis_text(c: Choice) -> str:
    """What the cost of ``c`` rests on (or why it is unknown)."""
    text = c.cost.basis.describe()
    if c.cost.unknown_reason:
        text = f"unknown cost: {c.cost.unknown_reason}; {text}"
    if c.capacity is not None:
        text += f"; capacity {c.capacity.describe()}"
    return text


def capacity_cell(c: Choice) -> str:
    """The deployment's measured capacity, tagged with the scenario that measured it."""
    if c.capacity is None:
        return NOT_AVAILABLE
    return f"{num(c.capacity.ips, 4)} {c.capacity.short}"


class Footnotes:
    """Letters for repeated long texts (the measured/assumed basis), listed under a table."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return _letter(self.texts.index(text))

    def lines(self) -> list[str]:
        return [f"[{_letter(i)}] {t}" for i, t in enumerate(self.texts)]


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(ord("a") + r) + s
    return s


def interval_dict(i: Interval | None) -> dict[str, float] | None:
    return None if i is None else {"value": i.point, "ci_low": i.lo, "ci_high": i.hi}


def basis_dict(b: Basis) -> dict[str, list[str]]:
    return b.to_dict()


def choice_dict(c: Choice, percentile: int) -> dict[str, Any]:
    """Everything about one choice, for machines: units in the keys, None when unknown."""
    p = c.cost.power
    return {
        "rank": c.rank,
        "tied": c.tied,
        "pareto": c.pareto,
        "job_id": c.job_id,
        "device": c.device,
        "device_class": c.device_class,
        "variant": c.variant,
        "runtime": c.runtime,
        "runtime_name": c.runtime_name,
        "providers": c.providers,
        "scenario": c.scenario,
        "batch_size": c.batch_size,
        "iterations": c.iterations,
        "p50_ms": c.p50_ms,
        "p90_ms": c.p90_ms,
        "p99_ms": c.p99_ms,
        f"p{percentile}_ms_ci": interval_dict(c.latency_ms),
        "mean_ms_ci": interval_dict(c.mean_ms),
        "throughput_ips": c.throughput_ips,
        "capacity": c.capacity.to_dict() if c.capacity else None,
        "peak_rss_mb": c.peak_rss_mb,
        "power_w": p.watts,
        "power_basis": p.basis.value,
        "power_source": p.source,
        "energy_per_inference_mj": p.energy_per_inference_mj,
        "energy_per_inference_mj_ci": interval_dict(c.energy_ci),
        "pricing": c.cost.pricing,
        "usd_per_hour": c.cost.usd_per_hour,
        "usd_per_million": c.cost.usd_per_million,
        "usd_per_million_ci": interval_dict(c.cost_ci),
        "cost_unknown_reason": c.cost.unknown_reason,
        "cost_notes": list(c.cost.notes),
        "basis": basis_dict(c.cost.basis),
        "estimated": c.cost.estimated,
        "simulated": c.simulated,
        "emulated": c.emulated,
        "max_abs_err": c.max_abs_err,
        "max_rel_err": c.max_rel_err,
        "snr_db": c.snr_db,
        "cosine_similarity": c.cosine_similarity,
        "within_tolerance": c.within_tolerance,
        "accuracy_unknown": c.accuracy_unknown,
        "task_top1": c.task_top1,
        "off_unit_time_share": c.off_unit_time_share,
        "throttled": c.throttled,
        "throttle_reasons": c.throttle_reasons,
        "peak_temp_c": c.peak_temp_c,
        "exclusions": [{"constraint": e.constraint, "detail": e.detail} for e in c.exclusions],
        "notes": c.notes,
    }


def off_unit_cell(c: Choice) -> str:
    """% of operator time off the requested unit; n/a when not profiled or not reported."""
    if c.off_unit_time_share is None:
        return NOT_AVAILABLE
    return f"{100 * c.off_unit_time_share:.1f}"


def clean(v: Any) -> Any:
    """NaN and infinities become None: JSON has no NaN, and a NaN must not read as a number."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean(x) for x in v]
    return v


def ranking_dict(r: Ranking) -> dict[str, Any]:
    """The whole ranking for machines."""
    return clean(
        {
            "run": r.run.to_dict(),
            "model": r.model,
            "ranked_by": r.by.value,
            "percentile": r.percentile,
            "confidence": r.confidence,
            "constraints": r.constraints.to_dict(),
            "constraints_text": r.constraints.describe(),
            "ranked": [choice_dict(c, r.percentile) for c in r.ranked],
            "excluded": [choice_dict(c, r.percentile) for c in r.excluded],
            "pareto_front": [c.job_id for c in r.pareto],
            "load_points": [p.to_dict() for p in r.load_points],
            "excluded_by": {k: n for k, n, _ in r.exclusion_summary()},
            "notes": r.notes,
            "method": method_lines(r),
        }
    )


def method_lines(r: Ranking) -> list[str]:
    """How the figures were computed, in words a reader can check."""
    return [
        f"ties (=): {r.confidence:.0%} confidence intervals overlap. Latency percentiles use "
        "order-statistic intervals from every per-iteration sample; cost and energy per "
        "inference inherit the relative interval of the mean latency (latency noise only)",
        f"Pareto front: no other qualifying choice has both lower p{r.percentile} latency "
        "and lower cost per million inferences",
        "one inference = one runtime call (one batch) for single-stream and soak; offline and "
        "server count samples (a request of batch 4 is 4 inferences); cost per million = "
        "serving hours for a million inferences at the measured throughput x the hourly (or "
        "amortized) price, plus energy per inference x electricity price for owned hardware",
        "capacity: what a deployment served under load where an offline or server scenario "
        "measured it (server: the highest rate whose percentile, queueing included, met the "
        "latency target; offline: the most samples/s); --min-throughput checks it, else "
        "single-stream throughput",
    ]
