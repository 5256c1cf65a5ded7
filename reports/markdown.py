"""The whole-run report as Markdown, for a CI comment or a pull request.

Markdown has no charts, so this view carries the tables, the Pareto front as text, the
exclusions and notes, and a one-line summary per soak run; the HTML report has the charts.
"""

from __future__ import annotations

from rigbench.controller.ranking.bundle import ReportBundle, SoakTimeline
from rigbench.controller.ranking.rank import Ranking
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
        out += ["", render_markdown(s.ranking, level=2), "", "### Throughput under load", ""]
        out += _under_load(s.ranking)
        out += ["", "### Soak runs", ""]
        out += _soak(s.timelines)
    return "\n".join(out) + "\n"


def _under_load(r: Ranking) -> list[str]:
    """Every load point: server rates with their percentile and the bound, offline sweeps."""
    if not r.load_points:
        return ["No offline or server scenario in this run (`kind: offline` or `kind: server`)."]
    labels = {c.job_id: c.label for c in r.ranked + r.excluded}
    rows = []
    for p in r.load_points:
        bound = (
            f"p{p.percentile:g} {num(p.percentile_ms)} ms "
            + ("<= " if p.bound_held else "> ")
            + f"{p.latency_bound_ms:g} ms"
            if p.latency_bound_ms and p.percentile_ms is not None
            else ""
        )
        mark = ("peak" if p.kind == "server" else "best") if p.headline else ""
        rows.append(
            [
                labels.get(p.job_id, p.job_id),
                p.kind,
                f"c{p.concurrency} b{p.batch_size} t{p.threads}",
                num(p.target_qps, 4) if p.target_qps else "",
                num(p.offered_qps, 4) if p.offered_qps else "",
                num(p.achieved_qps, 4),
                num(p.samples_per_s, 4),
                num(p.p99_ms),
                bound,
                f"{p.cpu_util:.0%}" if p.cpu_util is not None else "n/a",
                p.stop_reason + (f" ({mark})" if mark else ""),
            ]
        )
    header = [
        "choice",
        "kind",
        "executors, batch, threads",
        "target req/s",
        "offered req/s",
        "served req/s",
        "samples/s",
        "p99 ms",
        "bound",
        "CPU util",
        "stopped",
    ]
    return [
        markdown_table(header, rows),
        "",
        "Server latency runs from each request's scheduled arrival (queueing included); "
        "offline latency is each request's own run.",
    ]


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
