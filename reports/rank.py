"""Render a `Ranking` for a terminal, for a CI comment (Markdown) or for machines (JSON).

The three views carry the same content: the ranked table, which constraint excluded what,
the notes (run in progress, unknown costs, simulated telemetry) and the basis of every cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rigbench.controller.ranking.rank import Choice, Ranking
from rigbench.reports.rank_format import (
    BY_TITLE,
    Footnotes,
    basis_text,
    capacity_cell,
    cost_cell,
    device_cell,
    energy_cell,
    error_cell,
    interval_cell,
    method_lines,
    num,
    off_unit_cell,
    power_cell,
    rank_cell,
    ranking_dict,
    runtime_cell,
    snr_cell,
    throttled_cell,
)
from rigbench.reports.tables import NOT_AVAILABLE, flatten, to_csv, to_text

Column = tuple[str, Callable[[Choice], str]]


def columns(r: Ranking, notes: Footnotes) -> list[Column]:
    """The ranking table's columns; the scenario column only when scenarios differ."""
    pct = r.percentile
    cols: list[Column] = [
        ("rank", rank_cell),
        ("front", lambda c: "*" if c.pareto else ""),
        ("device", device_cell),
        ("variant", lambda c: c.variant),
        ("runtime (provider)", runtime_cell),
    ]
    if len({c.scenario for c in r.ranked + r.excluded}) > 1:
        cols.append(("scenario", lambda c: c.scenario))
    if any(c.profiled for c in r.ranked + r.excluded):
        cols.append(("% time off unit", off_unit_cell))
    cols += [
        ("p50 ms", lambda c: num(c.p50_ms)),
        ("p90 ms", lambda c: num(c.p90_ms)),
        ("p99 ms", lambda c: num(c.p99_ms)),
        (f"p{pct} CI ms", lambda c: interval_cell(c.latency_ms)),
        ("inf/s", lambda c: num(c.throughput_ips, 4)),
    ]
    if any(c.capacity for c in r.ranked + r.excluded):
        cols.append(("capacity/s", capacity_cell))
    cols += [
        ("power W", power_cell),
        ("mJ/inf", energy_cell),
        ("$/M inf", cost_cell),
        ("$/M CI", lambda c: interval_cell(c.cost_ci)),
        ("max err", lambda c: "unknown" if c.accuracy_unknown else num(c.max_abs_err, 2)),
        ("rel err", error_cell),
        ("SNR dB", snr_cell),
        ("throttled", throttled_cell),
        ("basis", lambda c: notes.mark(basis_text(c))),
    ]
    return cols


def _rows(choices: Sequence[Choice], cols: list[Column]) -> list[dict[str, str]]:
    return [{name: fn(c) for name, fn in cols} for c in choices]


def header_lines(r: Ranking) -> list[str]:
    run = r.run
    return [
        f"{r.model} in run {run.run_id} (plan {run.plan_name or '-'}, {run.status}): "
        f"ranked by {BY_TITLE[r.by]}",
        "constraints: " + "; ".join(r.constraints.describe()),
    ]


def exclusion_lines(r: Ranking, limit: int | None = 3) -> list[str]:
    """Per constraint, how many it excluded and which: a summary line, or one line each."""
    lines = []
    for constraint, n, examples in r.exclusion_summary():
        if limit is None:
            lines.append(f"{constraint} excluded {n}:")
            lines += [f"  {e}" for e in examples]
            continue
        shown = examples[:limit]
        more = f"; and {n - len(shown)} more" if len(shown) < n else ""
        lines.append(f"{constraint} excluded {n}: " + "; ".join(shown) + more)
    return lines


def nothing_qualifies(r: Ranking) -> str:
    total = len(r.excluded)
    return f"no choice meets the constraints ({total} result(s) of {r.model} checked):"


def render_text(r: Ranking) -> str:
    """Aligned terminal table with the legend, exclusions and notes below it."""
    out = header_lines(r)
    foot = Footnotes()
    if r.ranked:
        cols = columns(r, foot)
        table = to_text(_rows(r.ranked, cols), [(n, n) for n, _ in cols])
        out += ["", table]
        out.append(
            f"rank '2=' = tied within noise ({r.confidence:.0%} CIs overlap); '-' = unranked "
            f"(figure unknown); front '*' = Pareto front of p{r.percentile} latency vs cost; "
            "est. = from nameplate power; sim. = replayed telemetry"
        )
        out += [""] + [f"basis {line}" for line in foot.lines()]
    else:
        out += ["", nothing_qualifies(r)]
    excl = exclusion_lines(r, limit=None if not r.ranked else 3)
    if excl:
        out += [""] + excl
    if r.notes:
        out += [""] + [f"note: {n}" for n in r.notes]
    return "\n".join(out)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(r: Ranking, level: int = 2) -> str:
    """GitHub-flavoured Markdown for a CI comment."""
    h = "#" * level
    run = r.run
    out = [
        f"{h} {r.model}: ranked by {BY_TITLE[r.by]}",
        "",
        f"Run `{run.run_id}` (plan {run.plan_name or '-'}, {run.status}). "
        "Constraints: " + "; ".join(r.constraints.describe()) + ".",
        "",
    ]
    foot = Footnotes()
    if r.ranked:
        cols = columns(r, foot)
        rows = [[fn(c) for _, fn in cols] for c in r.ranked]
        out += [markdown_table([n for n, _ in cols], rows), ""]
        out.append(
            f"`2=`: tied within noise ({r.confidence:.0%} CIs overlap) · `-`: unranked, figure "
            f"unknown · `*`: Pareto front of p{r.percentile} latency vs cost · est.: from "
            "nameplate power · sim.: replayed telemetry"
        )
        out.append("")
        if r.pareto:
            steps = " → ".join(_pareto_step(c, r.percentile) for c in r.pareto)
            out.append(f"**Pareto front** (lower latency costs more along it): {steps}")
            out.append("")
        out += [f"- basis {line}" for line in foot.lines()]
    else:
        out.append(f"**{nothing_qualifies(r)}**")
    excl = exclusion_lines(r, limit=None)
    if excl:
        out += ["", "**Excluded**", ""]
        out += [f"  - {e[2:]}" if e.startswith("  ") else f"- {e}" for e in excl]
    if r.notes:
        out += ["", "**Notes**", ""] + [f"- {n}" for n in r.notes]
    out += ["", "<details><summary>Method</summary>", ""]
    out += [f"- {line}" for line in method_lines(r)] + ["", "</details>"]
    return "\n".join(out)


def _pareto_step(c: Choice, pct: int) -> str:
    lat = num(c.latency_ms.point if c.latency_ms else None)
    return f"{c.label} (p{pct} {lat} ms, ${cost_cell(c)}/M)"


def csv_rows(r: Ranking) -> list[dict[str, Any]]:
    """One flat row per choice, ranked then excluded (with what excluded it)."""
    d = ranking_dict(r)
    rows = []
    for status in ("ranked", "excluded"):
        for c in d[status]:
            excl = "; ".join(f"{e['constraint']}: {e['detail']}" for e in c.pop("exclusions"))
            rows.append(
                {"model": r.model, "run_id": r.run.run_id, "status": status, **flatten(c),
                 "excluded_by": excl}
            )  # fmt: skip
    return rows


def render_csv(r: Ranking) -> str:
    return to_csv(csv_rows(r))


def render_json(r: Ranking) -> str:
    return json.dumps(ranking_dict(r), indent=2, default=_default)


def _default(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


__all__ = ["NOT_AVAILABLE", "render_csv", "render_json", "render_markdown", "render_text"]
