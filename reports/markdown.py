"""The whole-run report as Markdown, for a CI comment or a pull request.

Markdown has no charts, so this view carries the tables, the Pareto front as text, the
exclusions and notes, and a one-line summary per soak run; the HTML report has the charts.
"""

from __future__ import annotations

from rigbench.controller.ranking.bundle import ReportBundle
from rigbench.controller.ranking.source import SoakTimeline
from rigbench.reports.rank import markdown_table, render_markdown
from rigbench.reports.rank_format import num


def render_bundle_markdown(bundle: ReportBundle) -> str:
    run = bundle.run
    models = ", ".join(s.ranking.model for s in bundle.sections)
    out = [
        f"# rigbench report: {models}",
        "",
        f"Run `{run.run_id}` · plan {run.plan_name or '-'} · {run.status} · "
        f"{run.jobs_done} of {run.jobs_total} jobs done, {run.jobs_failed} failed.",
    ]
    if bundle.notes:
        out += [""] + [f"> **note:** {n}" for n in bundle.notes]
    if bundle.failed:
        out += ["", f"**Failed jobs ({len(bundle.failed)})**", ""]
        out += [f"- {f.label}: {f.kind}: {f.message}" for f in bundle.failed]
    if bundle.skipped:
        out += ["", "**Not measured**", ""]
        out += [f"- {f.label}: {f.message}" for f in bundle.skipped]
    for s in bundle.sections:
        out += ["", render_markdown(s.ranking, level=2), "", "### Soak runs", ""]
        out += _soak(s.timelines)
    return "\n".join(out) + "\n"


def _soak(timelines: list[SoakTimeline]) -> list[str]:
    if not timelines:
        return ["No soak runs in this run (add a scenario with `kind: soak` to the plan)."]
    rows = []
    for t in timelines:
        temps = [v for s in t.temperature for v in s.values]
        power = [v for s in t.power for v in s.values]
        thr = [float(w["throughput_ips"]) for w in t.windows]
        rows.append(
            [
                f"{t.device} / {t.variant} / {t.runtime_name}",
                "yes" if t.simulated else "no",
                num(max(temps)) if temps else "n/a",
                num(sum(power) / len(power)) if power else "n/a",
                f"{num(thr[0], 4)} → {num(thr[-1], 4)}" if thr else "n/a",
                num(max(float(w["p99_ms"]) for w in t.windows)) if t.windows else "n/a",
            ]
        )
    header = [
        "choice",
        "simulated",
        "peak °C",
        "mean power W",
        "inf/s first → last window",
        "worst window p99 ms",
    ]
    return [markdown_table(header, rows)]
