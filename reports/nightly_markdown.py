"""The nightly verdict as Markdown: what a person reads in the morning (or in a CI summary).

Regressions and farm problems come first, each with its numbers and what changed since the
baseline; the full table of comparisons comes last.
"""

from __future__ import annotations

from rigbench.controller.nightly.evaluate import Comparison, NightlyReport
from rigbench.controller.nightly.verdicts import Outcome

VERDICT = {0: "no regression", 1: "REGRESSION", 2: "FARM FAILURE"}
METRIC_LABEL = {
    "latency_p50": "latency p50",
    "max_abs_err": "max abs err",
    "energy_per_inference": "energy / inference",
    "peak_rss": "peak memory",
    "job": "job",
}


def fmt_value(metric: str, value: float | None) -> str:
    """A metric's value in the unit people read it in."""
    if value is None:
        return "n/a"
    if metric == "latency_p50":
        return f"{value / 1e6:.4g} ms"
    if metric == "peak_rss":
        return f"{value / 1048576:.1f} MB"
    if metric == "energy_per_inference":
        return f"{value:.4g} mJ"
    return f"{value:.3g}"


def fmt_change(c: Comparison) -> str:
    v = c.verdict
    if v is None or v.ratio is None:
        return ""
    return f"{v.ratio - 1:+.1%}"


def title(c: Comparison) -> str:
    """The heading of a comparison: device · model/variant on runtime [scenario] · metric."""
    if c.device == "*":
        return f"{c.model}/{c.variant} (compile) · {METRIC_LABEL.get(c.metric, c.metric)}"
    scen = "" if c.scenario == "single-stream" else f" [{c.scenario}]"
    return (
        f"{c.device} · {c.model}/{c.variant} on {c.runtime_name}{scen} · "
        f"{METRIC_LABEL.get(c.metric, c.metric)}"
    )


def details(c: Comparison) -> list[str]:
    """The evidence and what changed, one line each (shared with the JUnit report)."""
    lines: list[str] = []
    v = c.verdict
    if v is not None and v.tonight is not None:
        lines.append(
            f"tonight {fmt_value(c.metric, v.tonight)}, baseline "
            f"{fmt_value(c.metric, v.baseline)}"
            + (f" ({fmt_change(c)})" if v.ratio is not None else "")
        )
        stats = []
        if v.rounds:
            what = "A/A check of the unchanged artifact" if v.basis == "A/A" else "paired"
            stats.append(
                f"{what}: {v.rounds} interleaved rounds tonight against the baseline night"
            )
        if v.ci_low is not None and v.ci_high is not None:
            stats.append(f"ratio CI {v.ci_low:.3f}-{v.ci_high:.3f}")
        if v.round_spread is not None:
            stats.append(f"round-to-round spread {v.round_spread:.1%}")
        if v.p_value is not None:
            stats.append(f"p = {v.p_value:.2g}" if v.p_value > 1e-16 else "p < 1e-16")
        if v.threshold is not None:
            thr = (
                fmt_value(c.metric, v.threshold)
                if c.metric == "max_abs_err"
                else (f"{v.threshold:.1%}")
            )
            stats.append(f"reported beyond {thr}")
        if v.noise_sd is not None and v.noise_sd != float("inf"):
            stats.append(f"night-to-night sd {v.noise_sd:.1%}")
        if stats:
            lines.append(", ".join(stats))
        if v.history_outcome is not None:
            h = f" ({v.history_ratio - 1:+.1%})" if v.history_ratio else ""
            lines.append(f"history alone (context): {v.history_outcome}{h}")
    if c.message:
        lines.append(c.message)
    if c.baseline_runs:
        lines.append("baseline runs: " + ", ".join(c.baseline_runs))
    for f in c.flags:
        lines.append(f"note: {f}")
    if c.changes:
        lines.append("what changed: " + "; ".join(str(x) for x in c.changes))
    elif c.verdict is not None and c.baseline_runs:
        lines.append("what changed: nothing recorded (same model, plan and device fingerprint)")
    return lines


def _section(out: list[str], heading: str, items: list[Comparison]) -> None:
    if not items:
        return
    out += [f"## {heading} ({len(items)})", ""]
    for c in items:
        out.append(f"- **{title(c)}**" + (f": {fmt_change(c)}" if fmt_change(c) else ""))
        out += [f"  - {line}" for line in details(c)]
    out.append("")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: NightlyReport) -> str:
    """The whole summary."""
    r = report
    base = (
        f"pinned run `{r.pinned_run}`"
        if r.pinned_run
        else f"last {r.baseline_runs} good nights with the same device fingerprint"
    )
    out = [
        f"# rigbench nightly `{r.plan_name}`: {VERDICT[r.exit_code]} (exit {r.exit_code})",
        "",
        f"Run `{r.run_id}`"
        + (f", started {r.started_at:%Y-%m-%d %H:%M} UTC" if r.started_at else "")
        + (f"; canary run `{r.canary_run_id}`" if r.canary_run_id else "")
        + (f"; code: {r.context.describe()}" if r.context.describe() else "")
        + ".",
        f"Baseline: {base}. Latency: tonight's artifact against the baseline night's, in "
        f"interleaved rounds measured tonight"
        + (f" (run `{r.pairs_run_id}`)" if r.pairs_run_id else "")
        + f"; reported when the change is at least {r.policy.min_effect:.0%} and its interval "
        f"clears 1 at one-sided alpha {r.policy.alpha:g}. Other metrics: against the history's "
        "noise floor.",
        "",
        " · ".join(
            f"{o.value}: {r.count(o)}"
            for o in Outcome
            if r.count(o) or o in (Outcome.REGRESSION, Outcome.NO_CHANGE)
        ),
        "",
        "## Devices",
        "",
        "| device | state | note |",
        "| --- | --- | --- |",
    ]
    for d in r.devices:
        note = d.message
        if d.fingerprint_changes:
            note += (
                ("; " if note else "")
                + "fingerprint changed: "
                + "; ".join(str(c) for c in d.fingerprint_changes)
            )
        out.append(f"| {_cell(d.device)} | {d.state} | {_cell(note)} |")
    out.append("")
    by = {o: [c for c in r.comparisons if c.outcome is o] for o in Outcome}
    _section(out, "Farm errors", by[Outcome.ERROR])
    _section(out, "Not enough evidence (too noisy tonight)", by[Outcome.NOT_ENOUGH_EVIDENCE])
    _section(out, "Regressions", by[Outcome.REGRESSION])
    _section(out, "Jobs that now fail", by[Outcome.FAILED])
    _section(out, "Improvements", by[Outcome.IMPROVEMENT])
    new = [c for c in by[Outcome.NEW_BASELINE] if c.metric == "latency_p50"]
    _section(out, "New baselines (conditions changed; compared from tomorrow)", new)
    out += [
        "## All comparisons",
        "",
        "| device | model/variant | runtime | scenario | metric | outcome | tonight | baseline "
        "| change | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r.comparisons:
        v = c.verdict
        out.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    c.device,
                    f"{c.model}/{c.variant}",
                    c.runtime_name,
                    c.scenario,
                    METRIC_LABEL.get(c.metric, c.metric),
                    c.outcome.value,
                    fmt_value(c.metric, v.tonight if v else None),
                    fmt_value(c.metric, v.baseline if v else None),
                    fmt_change(c),
                    c.message,
                )
            )
            + " |"
        )
    out.append("")
    return "\n".join(out)
