"""Render what ``rigbench tune`` found: the search and the front, per device.

Table for a terminal, Markdown for a CI comment or the report, JSON for machines; the three
carry the same content (``controller/tune/summary.py`` decides it, this module only renders).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rigbench.controller.tune.summary import DeviceSummary, Row
from rigbench.reports.tables import NOT_AVAILABLE, to_text


def _num(v: float | None, digits: int = 4) -> str:
    return NOT_AVAILABLE if v is None else f"{v:.{digits}g}"


def _ci(ci: tuple[float, float] | None) -> str:
    return NOT_AVAILABLE if ci is None else f"{ci[0]:.4g}-{ci[1]:.4g}"


def _err(r: Row) -> str:
    return f"unknown ({r.error_unknown})" if r.error is None else f"{r.error:.3g}"


def _config(r: Row) -> str:
    return f"{r.config.variant} on {r.config.name}"


def verdict(s: DeviceSummary) -> list[str]:
    """The recommendation, claiming only what its interval backs."""
    if s.recommended is None:
        return [f"no recommendation: {s.why_none or s.error or s.stop_reason}"]
    r = s.recommended
    conf = f"{s.confidence:.4%}" if s.confidence is not None else ""
    lines = [
        f"recommended: {_config(r)}: {s.objective} {_num(r.objective)} {s.unit} "
        f"(interval {_ci(r.objective_ci)}, {conf} per comparison, widened by the job-noise "
        f"floor), p99 {_num(r.p99_ms)} ms, max abs error {_err(r)}"
    ]
    if s.ties:
        lines.append(
            f"  not shown better than {len(s.ties)} other(s) whose interval overlaps it: "
            + "; ".join(f"{_config(t)} {_num(t.objective)}" for t in s.ties[:5])
            + (" ..." if len(s.ties) > 5 else "")
        )
    else:
        lines.append("  its interval overlaps no other measured contender's")
    if s.never_measured:
        lines.append(
            f"  best of those measured: {s.never_measured} configuration(s) were never measured "
            "(the budget ran out first); give more --budget-s or narrow the space"
        )
    return lines


def _header(s: DeviceSummary) -> list[str]:
    lines = [f"== {s.device} =="]
    if s.error:
        lines.append(f"not tuned: {s.error}")
        return lines
    lines.append(f"space: {s.space}")
    lines += [f"left out: {x}" for x in s.left_out]
    lines.append(
        f"search: {s.spent_s:.1f} of {s.budget_s:g} s device time; "
        + ", ".join(
            f"rung {r['rung']}: {r['trials']} x {r['measured_s']:.2g} s"
            + (f" ({r['pruned']} pruned)" if r["pruned"] else "")
            + (f" ({r['skipped']} left for the budget)" if r["skipped"] else "")
            for r in s.rungs
        )
        + f"; stopped: {s.stop_reason}"
    )
    if s.pruned:
        lines.append("pruned: " + ", ".join(f"{n} {kind}" for kind, n in s.pruned))
    if s.never_measured:
        lines.append(f"never measured (budget): {s.never_measured}")
    return lines


COLUMNS = (
    ("front", lambda r: "*" if r.front else ""),
    ("variant", lambda r: r.config.variant),
    ("runtime entry", lambda r: r.config.name),
    ("trials", lambda r: str(r.trials)),
    ("median ms", lambda r: _num(r.median_ms)),
    ("median CI ms", lambda r: _ci(r.median_ci_ms)),
    ("p99 ms", lambda r: _num(r.p99_ms)),
    ("$/M inf", lambda r: _num(r.usd_per_million)),
    ("J/inf", lambda r: _num(r.joules)),
    ("max err", lambda r: "unknown" if r.error is None else f"{r.error:.3g}"),
    ("status", lambda r: r.status),
)


def _rows(rows: Sequence[Row], limit: int | None) -> list[dict[str, str]]:
    shown = list(rows if limit is None else rows[:limit])
    return [{name: fn(r) for name, fn in COLUMNS} for r in shown]  # type: ignore[no-untyped-call]


def render_text(summaries: Sequence[DeviceSummary], run_id: str, limit: int = 15) -> str:
    out: list[str] = [f"tune run {run_id}"]
    for s in summaries:
        out.append("")
        out += _header(s)
        if s.error:
            continue
        out += verdict(s)
        if s.rows:
            out.append(
                f"measured configurations, best {s.objective} first (* = Pareto set over "
                "p99, $/M, J/inference and error, point estimates):"
            )
            out.append(
                to_text(_rows(s.rows, limit), [(n, n if n != "front" else "") for n, _ in COLUMNS])
            )
            if len(s.rows) > limit:
                out.append(f"... {len(s.rows) - limit} more (--format json lists all)")
        for key, kind, why in s.failed[:10]:
            out.append(f"failed: {key}: {kind}: {why}")
        out += [f"note: {n}" for n in s.notes]
    return "\n".join(out)


def render_markdown(summaries: Sequence[DeviceSummary], run_id: str) -> str:
    out = [f"## Tune (run `{run_id}`)"]
    for s in summaries:
        out.append(f"\n### {s.device}\n")
        out += [f"- {line}" for line in _header(s)[1:]]
        if s.error:
            continue
        out += [
            f"- **{line.strip()}**" if i == 0 else f"- {line.strip()}"
            for i, line in enumerate(verdict(s))
        ]
        if s.rows:
            out.append("")
            names = [n for n, _ in COLUMNS]
            out.append("| " + " | ".join(names) + " |")
            out.append("|" + " --- |" * len(names))
            for row in _rows(s.rows, None):
                out.append("| " + " | ".join(row.values()) + " |")
        out += [f"\n> {n}" for n in s.notes]
    return "\n".join(out) + "\n"


def summary_dict(s: DeviceSummary) -> dict[str, Any]:
    return {
        "device": s.device,
        "error": s.error,
        "space": s.space,
        "left_out": s.left_out,
        "objective": s.objective,
        "unit": s.unit,
        "confidence_per_comparison": s.confidence,
        "budget_s": s.budget_s,
        "spent_s": s.spent_s,
        "stop_reason": s.stop_reason,
        "rungs": s.rungs,
        "recommended": s.recommended.to_dict() if s.recommended else None,
        "ties": [t.to_dict() for t in s.ties],
        "why_none": s.why_none,
        "pareto": [r.to_dict() for r in s.front],
        "configurations": [r.to_dict() for r in s.rows],
        "pruned": dict(s.pruned),
        "failed": [{"config": k, "kind": kind, "why": why} for k, kind, why in s.failed],
        "never_measured": s.never_measured,
        "notes": s.notes,
    }


def render_json(summaries: Sequence[DeviceSummary], run_id: str) -> str:
    return json.dumps({"run_id": run_id, "devices": [summary_dict(s) for s in summaries]}, indent=2)
