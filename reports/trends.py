"""The HTML trend report: every series' recent nights, per device and variant, in one file.

Self-contained (inline CSS and SVG, no scripts, nothing fetched) so it can be opened from a CI
artifact anywhere. Each series shows median latency, p90 latency, peak memory and, where a
sensor measured it, energy per inference, each on its own scale (a p90 far above the median
must not flatten a jump of the median); flagged nights are coloured, throttled nights are
hollow, and a dashed line marks where a changed fingerprint or configuration started a new
baseline. The charts are the report kit's (``charts.py``).
"""

from __future__ import annotations

from html import escape

from rigbench.controller.baseline import Night, SeriesHistory, Trends
from rigbench.controller.nightly.evaluate import NightlyReport
from rigbench.reports.charts import CHART_CSS, TrendPoint, trend_chart
from rigbench.reports.nightly_markdown import VERDICT, fmt_change

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1400px;
       color: #222; }
h1 { font-size: 1.4em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1em; margin: 1.5em 0 .3em; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 16px; }
table { border-collapse: collapse; font-size: 12px; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.regression, .failed { color: #d62728; font-weight: bold; } .improvement { color: #2ca02c; }
.error { color: #d62728; } .legend { font-size: 12px; color: #555; }
"""


# The charts of a series: (metric as nightly_checks names it, chart title, unit).
METRICS: list[tuple[str, str, str]] = [
    ("latency_p50", "p50 latency", "ms"),
    ("latency_p90", "p90 latency", "ms"),
    ("peak_rss", "peak RSS", "MB"),
    ("energy_per_inference", "energy per inference", "mJ"),
]


def _value(n: Night, metric: str) -> float | None:
    if metric == "latency_p50":
        return n.p50_ns / 1e6 if n.p50_ns else None
    if metric == "latency_p90":
        return n.p90_ns / 1e6 if n.p90_ns else None
    if metric == "peak_rss":
        return n.peak_rss_bytes / 1048576 if n.peak_rss_bytes else None
    return n.energy_per_inference_mj


def _points(
    s: SeriesHistory, metric: str, unit: str, marks: dict[tuple[str, str, str], str]
) -> list[TrendPoint]:
    days = [f"{n.started_at:%m-%d}" for n in s.nights]
    same_day = len(set(days)) < len(days)
    out = []
    for n in s.nights:
        mark = marks.get((n.run_id, s.job_key, metric), "")
        mark = mark if mark in ("regression", "improvement") else ""
        if n.throttled and not mark:
            mark = "throttled"
        value = _value(n, metric)
        shown = f"{value:.4g} {unit}" if value is not None else "not measured"
        tip = f"{n.started_at:%Y-%m-%d %H:%M} run {n.run_id}: {shown}"
        if mark:
            tip += f" ({mark})"
        label = f"{n.started_at:%m-%d %H:%M}" if same_day else f"{n.started_at:%m-%d}"
        out.append(TrendPoint(label, value, mark, tip))
    return out


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


def render_trends(report: NightlyReport, trends: Trends) -> str:
    """The whole HTML page (``controller.baseline.trends`` reads what it shows)."""
    series, marks, nights = trends.series, trends.marks, trends.nights
    title = f"rigbench nightly trends: {report.plan_name}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Tonight: run <code>{escape(report.run_id)}</code>, "
        f"<b>{escape(VERDICT[report.exit_code])}</b> (exit {report.exit_code}); "
        f"last {nights} nightly runs of the plan.</p>",
        '<p class="legend">Each chart has its own scale. Red: reported regression; green: '
        "improvement; hollow orange: throttled (not evidence); ringed: tonight; dashed line: a "
        "new baseline (fingerprint or configuration changed). Hover a point for its run.</p>",
    ]
    device = None
    for s in series:
        dev, model, variant, runtime, scenario = (s.job_key.split("/") + ["?"] * 5)[:5]
        if dev != device:
            device = dev
            state = next((d for d in report.devices if d.device == dev), None)
            note = ""
            if state:
                said = f": {state.message}" if state.message else ""
                note = f" ({escape(state.state + said)})"
            body.append(f"<h2>{escape(dev)}{note}</h2>")
        starts = s.segment_starts()
        charts = [
            trend_chart(title, unit, _points(s, metric, unit, marks), starts)
            for metric, title, unit in METRICS
            if metric != "energy_per_inference" or any(n.energy_per_inference_mj for n in s.nights)
        ]
        body += [
            f"<h3>{escape(model)}/{escape(variant)} on {escape(runtime)} [{escape(scenario)}]</h3>",
            f'<div class="charts">{"".join(charts)}</div>',
            _tonight_table(report, s.job_key),
        ]
    if not series:
        body.append("<p>No nightly results stored for this plan yet.</p>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}{CHART_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
