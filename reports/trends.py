"""The HTML trend report: every series' recent nights, per device and variant, in one file.

Self-contained (inline CSS and SVG, no scripts, nothing fetched) so it can be opened from a CI
artifact anywhere. Each series shows median latency with p90 above it, peak memory and, where
a sensor measured it, energy per inference; flagged nights are coloured, throttled nights are
hollow, and a dashed line marks where a changed fingerprint or configuration started a new
baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rigbench.controller.baseline import Night, SeriesHistory, history
from rigbench.controller.store.db import Store
from rigbench.reports.nightly_markdown import VERDICT, fmt_change
from rigbench.reports.regression import NightlyReport
from rigbench.reports.trends_svg import ChartPoint, line_chart

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1400px;
       color: #222; }
h1 { font-size: 1.4em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1em; margin: 1.5em 0 .3em; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
table { border-collapse: collapse; font-size: 12px; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.regression, .failed { color: #d62728; font-weight: bold; } .improvement { color: #2ca02c; }
.error { color: #d62728; } .legend { font-size: 12px; color: #555; }
"""


def _marks(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str, str], str]:
    if not run_ids:
        return {}
    rows = store.query(
        "SELECT run_id, series, metric, outcome FROM nightly_checks "
        "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(run_ids)],
    )
    return {(r["run_id"], r["series"], r["metric"]): r["outcome"] for r in rows}


def series_histories(store: Store, report: NightlyReport, nights: int) -> list[SeriesHistory]:
    """The last ``nights`` nightly runs of the report's plan, tonight included, per series."""
    assert report.started_at is not None
    hist = history(store, report.plan_name, report.started_at, "", nights)
    return [SeriesHistory(key, list(reversed(ns))) for key, ns in sorted(hist.items())]


def _points(
    s: SeriesHistory, metric: str, marks: dict[tuple[str, str, str], str]
) -> list[ChartPoint]:
    days = [f"{n.started_at:%m-%d}" for n in s.nights]
    same_day = len(set(days)) < len(days)
    out = []
    for n in s.nights:
        mark = marks.get((n.run_id, s.job_key, metric), "")
        mark = mark if mark in ("regression", "improvement") else ""
        if n.throttled and not mark:
            mark = "throttled"
        value, upper, unit = _metric(n, metric)
        tip = f"{n.started_at:%Y-%m-%d %H:%M} run {n.run_id}: {unit}"
        if mark:
            tip += f" ({mark})"
        label = f"{n.started_at:%m-%d %H:%M}" if same_day else f"{n.started_at:%m-%d}"
        out.append(ChartPoint(label, value, upper, mark, tip))
    return out


def _metric(n: Night, metric: str) -> tuple[float | None, float | None, str]:
    if metric == "latency_p50":
        p50 = n.p50_ns / 1e6 if n.p50_ns else None
        p90 = n.p90_ns / 1e6 if n.p90_ns else None
        return p50, p90, f"p50 {p50:.4g} ms" if p50 else "no latency"
    if metric == "peak_rss":
        mb = n.peak_rss_bytes / 1048576 if n.peak_rss_bytes else None
        return mb, None, f"peak RSS {mb:.1f} MB" if mb else "no memory figure"
    mj = n.energy_per_inference_mj
    return mj, None, f"{mj:.4g} mJ/inference" if mj else "no energy figure"


def _tonight_table(report: NightlyReport, key: str) -> str:
    rows = [c for c in report.comparisons if c.series == key]
    if not rows:
        return '<p class="legend">not in tonight\'s run</p>'
    cells = "".join(
        f'<tr><td>{escape(c.metric)}</td><td class="{c.outcome.value.replace(" ", "-")}">'
        f"{escape(c.outcome.value)}</td><td>{escape(fmt_change(c))}</td>"
        f"<td>{escape(c.message)}</td></tr>"
        for c in rows
    )
    changes = {str(x) for c in rows for x in c.changes}
    extra = (
        f'<p class="legend">what changed: {escape("; ".join(sorted(changes)))}</p>'
        if changes
        else ""
    )
    return (
        "<table><tr><th>metric</th><th>tonight</th><th>change</th><th>note</th></tr>"
        f"{cells}</table>{extra}"
    )


def render_trends(store: Store, report: NightlyReport, nights: int = 30) -> str:
    """The whole HTML page."""
    series = series_histories(store, report, nights)
    marks = _marks(store, sorted({n.run_id for s in series for n in s.nights}))
    title = f"rigbench nightly trends: {report.plan_name}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Tonight: run <code>{escape(report.run_id)}</code>, "
        f"<b>{escape(VERDICT[report.exit_code])}</b> (exit {report.exit_code}); "
        f"last {nights} nightly runs of the plan.</p>",
        '<p class="legend">Blue: median latency (dotted: p90). Red: reported regression; '
        "green: improvement; hollow orange: throttled (not evidence); ringed: tonight; dashed "
        "line: a new baseline (fingerprint or configuration changed). Hover a point for its "
        "run.</p>",
    ]
    device = None
    for s in series:
        dev, model, variant, runtime, scenario = (s.job_key.split("/") + ["?"] * 5)[:5]
        if dev != device:
            device = dev
            state = next((d for d in report.devices if d.device == dev), None)
            note = f" ({escape(state.state)}: {escape(state.message)})" if state else ""
            body.append(f"<h2>{escape(dev)}{note}</h2>")
        starts = s.segment_starts()
        charts = [
            line_chart(
                _points(s, "latency_p50", marks), "latency ms", lambda v: f"{v:.3g}", starts
            ),
            line_chart(
                _points(s, "peak_rss", marks), "peak RSS MB", lambda v: f"{v:.0f}", starts,
                width=360,
            ),
        ]  # fmt: skip
        if any(n.energy_per_inference_mj for n in s.nights):
            charts.append(
                line_chart(
                    _points(s, "energy_per_inference", marks), "mJ / inference",
                    lambda v: f"{v:.3g}", starts, width=360,
                )
            )  # fmt: skip
        body += [
            f"<h3>{escape(model)}/{escape(variant)} on {escape(runtime)} [{escape(scenario)}]</h3>",
            f'<div class="charts">{"".join(charts)}</div>',
            _tonight_table(report, s.job_key),
        ]
    if not series:
        body.append("<p>No nightly results stored for this plan yet.</p>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
