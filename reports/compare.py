"""Render a ``rigbench compare`` result: a terminal table, JSON, or Markdown for a pull request."""

from __future__ import annotations

import json
from typing import Any

from rigbench.context import RunContext
from rigbench.controller.compare.runner import CompareResult
from rigbench.controller.compare.subjects import Subject
from rigbench.reports.tables import to_text

HEADLINE = {
    "slower": "B is SLOWER than A",
    "faster": "B is faster than A",
    "same": "no change",
    "inconclusive": "not enough evidence",
}
ROUND_COLUMNS = [
    ("round", "round"),
    ("order", "order"),
    ("a_p50_ms", "A p50 ms"),
    ("b_p50_ms", "B p50 ms"),
    ("ratio", "B/A"),
    ("load_avg_1m", "load avg"),
    ("other_cpu_pct", "others' CPU %"),
]


def _subject(s: Subject) -> dict[str, Any]:
    return {
        "label": s.label,
        "model": s.model_name,
        "variant": s.variant,
        "runtime": s.runtime.name,
        "providers": list(s.runtime.providers),
        "threads": s.runtime.threads,
    }


def headline(r: CompareResult) -> str:
    if r.verdict is None:
        return "no verdict: the farm failed"
    text = HEADLINE[r.verdict.change.value]
    if r.problems:
        text = f"no verdict ({len(r.problems)} problem(s)); the rounds measured say: {text}"
    return text


def context_line(context: dict[str, Any]) -> str:
    """`git abc123 on branch main, PR #12 (github)` from a run's context, or ''."""
    fields = ("git_sha", "git_branch", "pull_request", "ci")
    return RunContext(**{k: context.get(k) for k in fields}).describe()


def _rows(r: CompareResult) -> list[dict[str, Any]]:
    return [
        {
            "round": x.index,
            "order": "".join(x.order),
            "a_p50_ms": x.a_p50_ns / 1e6 if x.a_p50_ns else None,
            "b_p50_ms": x.b_p50_ns / 1e6 if x.b_p50_ns else None,
            "ratio": x.ratio,
            "load_avg_1m": x.load_avg_1m,
            "other_cpu_pct": x.other_cpu_share * 100 if x.other_cpu_share is not None else None,
        }
        for x in r.rounds
    ]


def to_dict(r: CompareResult) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "device": r.device,
        "exit_code": r.exit_code,
        "headline": headline(r),
        "a": _subject(r.a),
        "b": _subject(r.b),
        "verdict": r.verdict.to_dict() if r.verdict else None,
        "problems": r.problems,
        "rounds": [
            {**row, "a_iterations": x.a_iterations, "b_iterations": x.b_iterations}
            for row, x in zip(_rows(r), r.rounds)
        ],
        "host": {
            "load_avg_1m_max": r.host.load_avg_1m_max,
            "other_cpu_share_median": r.host.other_cpu_share_median,
            "steal_share_max": r.host.steal_share_max,
        },
        "seed": r.seed,
        "round_s": r.settings.round_s,
        "elapsed_s": r.elapsed_s,
        "context": r.context,
    }


def render_json(r: CompareResult) -> str:
    return json.dumps(to_dict(r), indent=2, default=str)


def _verdict_lines(r: CompareResult) -> list[str]:
    v = r.verdict
    lines = []
    if v is not None:
        lines.append(
            f"B/A {v.ratio:.4f} ({v.change_pct:+.1f}%), {v.confidence:.1%} interval "
            f"{v.ci_low:.4f}-{v.ci_high:.4f}, {v.rounds} rounds, minimum effect "
            f"{v.min_effect:.0%}; round-to-round spread (MAD) {v.spread:.2%}"
        )
        lines.append(f"why: {v.reason}")
    lines += [f"problem: {p}" for p in r.problems]
    if r.rounds:
        lines.append(f"device {r.device} during the rounds: {r.host.describe()}")
    return lines


def render_table(r: CompareResult) -> str:
    lines = [f"compare {r.run_id} on {r.device}: {headline(r)} (exit {r.exit_code})"]
    for side, s in (("A", r.a), ("B", r.b)):
        d = _subject(s)
        lines.append(f"  {side}  {d['label']}  ({d['variant']} on {d['runtime']})")
    lines += ["  " + x for x in _verdict_lines(r)]
    ctx = context_line(r.context)
    if ctx:
        lines.append(f"  context: {ctx}")
    lines.append(f"  took {r.elapsed_s:.1f} s (seed {r.seed}); rounds in the order they ran:")
    lines.append("")
    lines.append(to_text(_rows(r), ROUND_COLUMNS))
    return "\n".join(lines)


def render_markdown(r: CompareResult) -> str:
    icon = {0: "✅", 1: "❌", 2: "⚠️"}[r.exit_code]
    lines = [f"### {icon} rigbench compare: {headline(r)}", ""]
    lines.append("| | model | variant | runtime |")
    lines.append("| --- | --- | --- | --- |")
    for side, s in (("A", r.a), ("B", r.b)):
        d = _subject(s)
        lines.append(f"| {side} | `{d['label']}` | {d['variant']} | {d['runtime']} |")
    lines.append("")
    lines += [f"- {x}" for x in _verdict_lines(r)]
    ctx = context_line(r.context)
    if ctx:
        lines.append(f"- context: {ctx}")
    lines.append(
        f"- device `{r.device}`, run `{r.run_id}`, {len(r.rounds)} randomized interleaved "
        f"rounds of {r.settings.round_s:g} s per side, {r.elapsed_s:.0f} s in all"
    )
    lines += ["", "<details><summary>rounds</summary>", ""]
    lines.append("| round | order | A p50 ms | B p50 ms | B/A | load avg | others' CPU % |")
    lines.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in _rows(r):
        cells = [
            f"{v:.4f}" if isinstance(v, float) else ("n/a" if v is None else str(v))
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)
