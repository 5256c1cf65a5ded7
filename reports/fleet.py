"""Render a `FleetPlan`: devices needed, monthly cost and power draw per viable choice.

The queueing assumption is printed with every view: a fleet size is only as good as the
assumption behind it, and the reader must be able to disagree with it.
"""

from __future__ import annotations

import json
from typing import Any

from rigbench.controller.cost import PowerBasis
from rigbench.controller.ranking.fleet import FleetOption, FleetPlan
from rigbench.reports.rank import exclusion_lines, header_lines, markdown_table
from rigbench.reports.rank_format import (
    Footnotes,
    clean,
    device_cell,
    interval_cell,
    num,
    qualifier,
    ranking_dict,
    runtime_cell,
)
from rigbench.reports.tables import NOT_AVAILABLE, flatten, to_csv, to_text

HEADER = [
    "device",
    "variant",
    "runtime (provider)",
    "pXX ms",
    "inf/s per device",
    "capacity",
    "devices",
    "util",
    "queue wait ms",
    "$/month",
    "power W",
    "basis",
]


def _monthly(o: FleetOption) -> str:
    if o.monthly.usd is None:
        return "unknown"
    tag = " est." if o.monthly.basis.estimated else " sim." if o.monthly.basis.simulated else ""
    return num(o.monthly.usd, 4) + tag


def _power(o: FleetOption) -> str:
    if o.power_w is None:
        return NOT_AVAILABLE
    return num(o.power_w) + qualifier(o.power_basis)


def _basis(o: FleetOption) -> str:
    text = o.monthly.basis.describe() if o.monthly.usd is not None else ""
    if o.monthly.unknown_reason:
        text = f"unknown cost: {o.monthly.unknown_reason}" + (f"; {text}" if text else "")
    return text


def _cells(plan: FleetPlan, o: FleetOption, foot: Footnotes) -> list[str]:
    c = o.choice
    if o.measured is not None:
        lat = f"{num(o.latency_ms)} under load"
        variant = c.variant
        wait = f"in p{plan.ranking.percentile}"
    else:
        lat = "n/a"
        if c.latency_ms:
            lat = f"{num(c.latency_ms.point)} ({interval_cell(c.latency_ms)})"
        variant = c.variant + ("" if c.scenario == "single-stream" else f" [{c.scenario}]")
        wait = num(o.queue_wait_ms)
    return [
        device_cell(c),
        variant,
        runtime_cell(c),
        lat,
        num(o.capacity_ips, 4),
        "measured" if o.measured is not None else "estimate",
        str(o.devices),
        f"{o.utilization:.0%}",
        wait,
        _monthly(o),
        _power(o),
        foot.mark(_basis(o)),
    ]


def _header(plan: FleetPlan) -> list[str]:
    pct = plan.ranking.percentile
    return [h.replace("pXX", f"p{pct}") for h in HEADER]


def _intro(plan: FleetPlan) -> list[str]:
    lines = header_lines(plan.ranking)
    lines[0] = lines[0].split(": ranked by")[0] + f": fleet for {plan.qps:g} inferences/s"
    return lines


def render_text(plan: FleetPlan) -> str:
    out = _intro(plan)
    foot = Footnotes()
    if plan.options:
        header = _header(plan)
        rows = [dict(zip(header, _cells(plan, o, foot))) for o in plan.options]
        out += ["", to_text(rows, [(h, h) for h in header])]
        out += [""] + [f"basis {line}" for line in foot.lines()]
    else:
        out += ["", "no viable choice: nothing meets the constraints"]
    out += [""] + [f"assumption: {a}" for a in plan.assumptions()]
    out += _capacity_lines(plan)
    for c, why in plan.unsized:
        out.append(f"not sized: {c.label}: {why}")
    excl = exclusion_lines(plan.ranking, limit=None if not plan.options else 3)
    if excl:
        out += [""] + excl
    notes = [n for n in plan.ranking.notes if "listed unranked" not in n]
    if notes:
        out += [""] + [f"note: {n}" for n in notes]
    return "\n".join(out)


def _capacity_lines(plan: FleetPlan) -> list[str]:
    """Where each measured capacity came from; where a server scenario did not help, why."""
    out = []
    for o in plan.options:
        label = f"{o.choice.device} / {o.choice.variant} / {o.choice.runtime_name}"
        if o.measured is not None:
            out.append(f"capacity of {label}: {o.measured.describe()}")
        out += [f"capacity of {label}: {n}" for n in o.choice.notes if "server scenario" in n]
    return out


def render_markdown(plan: FleetPlan, level: int = 2) -> str:
    h = "#" * level
    r = plan.ranking
    out = [
        f"{h} {r.model}: fleet for {plan.qps:g} inferences/s",
        "",
        f"Run `{r.run.run_id}` ({r.run.status}). Constraints: "
        + "; ".join(r.constraints.describe())
        + ".",
        "",
    ]
    foot = Footnotes()
    if plan.options:
        out.append(markdown_table(_header(plan), [_cells(plan, o, foot) for o in plan.options]))
        out += [""] + [f"- basis {line}" for line in foot.lines()]
    else:
        out.append("**No viable choice: nothing meets the constraints.**")
    out += ["", "**Assumptions**", ""] + [f"- {a}" for a in plan.assumptions()]
    out += [f"- {line}" for line in _capacity_lines(plan)]
    excl = exclusion_lines(r, limit=3)
    if excl:
        out += ["", "**Excluded**", ""] + [f"- {e}" for e in excl]
    if r.notes:
        out += ["", "**Notes**", ""] + [f"- {n}" for n in r.notes]
    return "\n".join(out)


def option_dict(o: FleetOption) -> dict[str, Any]:
    return {
        "job_id": o.choice.job_id,
        "device": o.choice.device,
        "variant": o.choice.variant,
        "runtime_name": o.choice.runtime_name,
        "scenario": o.choice.scenario,
        "capacity_ips": o.capacity_ips,
        "capacity_basis": "measured" if o.measured is not None else "estimated",
        "measured_capacity": o.measured.to_dict() if o.measured is not None else None,
        "latency_ms": o.latency_ms,
        "devices": o.devices,
        "utilization": o.utilization,
        "queue_wait_ms": o.queue_wait_ms,
        "monthly_usd": o.monthly.usd,
        "monthly_basis": o.monthly.basis.to_dict(),
        "monthly_unknown_reason": o.monthly.unknown_reason,
        "power_w": o.power_w,
        "power_basis": o.power_basis.value,
        "estimated": o.power_basis is PowerBasis.nameplate,
        "simulated": o.power_basis is PowerBasis.simulated,
        "emulated": o.choice.emulated,
    }


def fleet_dict(plan: FleetPlan) -> dict[str, Any]:
    return clean(
        {
            "qps": plan.qps,
            "headroom": plan.headroom,
            "assumptions": plan.assumptions(),
            "options": [option_dict(o) for o in plan.options],
            "not_sized": [{"job_id": c.job_id, "reason": why} for c, why in plan.unsized],
            "ranking": ranking_dict(plan.ranking),
        }
    )


def render_csv(plan: FleetPlan) -> str:
    """One flat row per viable choice: devices needed, monthly cost, power, the figures used."""
    return to_csv(
        [
            {"qps": plan.qps, "headroom": plan.headroom, **flatten(option_dict(o))}
            for o in plan.options
        ]
    )


def render_json(plan: FleetPlan) -> str:
    return json.dumps(fleet_dict(plan), indent=2, default=str)
