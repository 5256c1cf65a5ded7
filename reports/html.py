"""One self-contained HTML report: tables, inline SVG charts, a little inline script.

The file must open anywhere, offline, years later: no CDN, no fonts, no images to fetch. A
Content-Security-Policy forbids every network load so a regression here fails loudly in the
browser test. The script only adds sorting and highlighting and reports that the charts
rendered (``data-rendered="ok"`` on <body>) or what failed (``data-errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rigbench.agent.placement import on_unit, unit_name
from rigbench.controller.ops import per_inference_ms, placement_lines
from rigbench.controller.ranking.bundle import ModelSection, ReportBundle, SoakTimeline
from rigbench.controller.ranking.capacity import LoadPointRow
from rigbench.controller.ranking.rank import Choice, Ranking
from rigbench.reports.charts import (
    CHART_CSS,
    Distribution,
    Line,
    LoadCurve,
    OpBar,
    Point,
    distributions_chart,
    op_bars_chart,
    pareto_chart,
    throughput_latency_chart,
    timeline_chart,
)
from rigbench.reports.rank import columns, exclusion_lines
from rigbench.reports.rank_format import (
    BY_TITLE,
    Footnotes,
    cost_qualifier,
    method_lines,
    num,
)

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#fff; --accent:#0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 24px 32px 64px; max-width: 1500px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 36px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px;
  margin: 24px 0 6px; }
.meta, .legend, .small { color: var(--muted); font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px;
  background: #eef1f4; margin-right: 6px; }
.badge.warn { background: #fff1c2; } .badge.sim { background: #e8e1f5; }
.scroll { overflow-x: auto; }
table.rank { border-collapse: collapse; font-size: 12px; margin: 8px 0; width: 100%; }
table.rank th, table.rank td { padding: 3px 6px; border-bottom: 1px solid var(--line);
  text-align: left; white-space: nowrap; }
table.rank th { cursor: pointer; background: #f6f8fa; position: sticky; top: 0; }
table.rank td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.rank small { color: var(--muted); font-size: 11px; }
table.rank tr.front td:first-child { font-weight: 600; }
table.rank tr.hl td, g.dist.hl text { background: #fff8c5; font-weight: 600; }
.unknown { color: #a40e26; } .est, .sim { color: #8250df; }
ul.notes li, ul.excl li { margin: 2px 0; }
figure { margin: 12px 0 20px; } figcaption { color: var(--muted); font-size: 12.5px; }
.timelines { display: flex; flex-wrap: wrap; gap: 8px 16px; }
.soak { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.empty { color: var(--muted); font-style: italic; }
"""

SCRIPT = """
(function () {
  var body = document.body;
  function fail(msg) {
    body.setAttribute('data-errors', (body.getAttribute('data-errors') || '') + msg + '\\n');
  }
  window.addEventListener('error', function (e) { fail(String(e.message || e)); });
  window.addEventListener('unhandledrejection', function (e) { fail(String(e.reason)); });
  try {
    document.querySelectorAll('table.rank').forEach(function (table) {
      table.querySelectorAll('th').forEach(function (th, col) {
        th.title = 'sort';
        th.addEventListener('click', function () {
          var rows = Array.prototype.slice.call(table.tBodies[0].rows);
          var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;
          th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
          rows.sort(function (a, b) {
            var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
            var fx = parseFloat(x), fy = parseFloat(y);
            if (!isNaN(fx) && !isNaN(fy)) { return dir * (fx - fy); }
            if (isNaN(fx) !== isNaN(fy)) { return isNaN(fx) ? 1 : -1; }
            return dir * String(x).localeCompare(String(y));
          });
          rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
        });
      });
    });
    document.querySelectorAll('[data-job]').forEach(function (el) {
      var job = el.getAttribute('data-job');
      function set(on) {
        document.querySelectorAll('[data-job="' + job + '"]').forEach(function (o) {
          o.classList.toggle('hl', on);
        });
      }
      el.addEventListener('mouseenter', function () { set(true); });
      el.addEventListener('mouseleave', function () { set(false); });
    });
    var charts = document.querySelectorAll('figure.chart svg');
    var drawn = 0;
    charts.forEach(function (svg) {
      var marks = svg.querySelectorAll('path, circle, polyline, rect, line').length;
      var box = svg.getBBox();
      if (marks > 0 && box.width > 0 && box.height > 0) { drawn += 1; }
    });
    body.setAttribute('data-charts', String(charts.length));
    body.setAttribute('data-charts-drawn', String(drawn));
    if (drawn === charts.length) { body.setAttribute('data-rendered', 'ok'); }
    else { fail(String(charts.length - drawn) + ' chart(s) did not draw'); }
  } catch (e) { fail(String(e && e.stack || e)); }
})();
"""


def _e(s: object) -> str:
    return escape(str(s), quote=True)


def render_html(bundle: ReportBundle) -> str:
    """The whole report as one HTML string."""
    run = bundle.run
    title = f"rigbench report: run {run.run_id}"
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{CSS}{CHART_CSS}</style></head>"
    )
    parts = [head, "<body>", _header(bundle)]
    for section in bundle.sections:
        parts.append(_section(section))
    parts.append(_footer(bundle))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "".join(parts)


def _header(bundle: ReportBundle) -> str:
    run = bundle.run
    badges = [f"<span class='badge'>{_e(run.status)}</span>"]
    if run.status == "running":
        badges.append("<span class='badge warn'>in progress: partial results</span>")
    if any(c.simulated for s in bundle.sections for c in s.ranking.ranked + s.ranking.excluded):
        badges.append("<span class='badge sim'>includes simulated telemetry</span>")
    if any(c.emulated for s in bundle.sections for c in s.ranking.ranked + s.ranking.excluded):
        badges.append("<span class='badge warn'>includes emulated devices</span>")
    models = ", ".join(s.ranking.model for s in bundle.sections)
    out = [
        f"<h1>rigbench report: {_e(models)}</h1>",
        f"<p class='meta'>{''.join(badges)} run <code>{_e(run.run_id)}</code> · plan "
        f"{_e(run.plan_name or '-')} · started {_e(run.started_at or '-')} · "
        f"{run.jobs_done} of {run.jobs_total} jobs done, {run.jobs_failed} failed · generated "
        f"{_e(bundle.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p>",
    ]
    if bundle.notes:
        out.append("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in bundle.notes))
        out.append("</ul>")
    if bundle.failed:
        out.append(f"<h3>Failed jobs ({len(bundle.failed)})</h3><ul class='failed'>")
        out += [
            f"<li><b>{_e(f.label)}</b>: {_e(f.kind)}: {_e(f.message)}</li>" for f in bundle.failed
        ]
        out.append("</ul>")
    if bundle.skipped:
        out.append("<h3>Not measured</h3><ul class='skipped'>")
        out += [f"<li><b>{_e(f.label)}</b>: {_e(f.message)}</li>" for f in bundle.skipped]
        out.append("</ul>")
    return "".join(out)


def _section(s: ModelSection) -> str:
    r = s.ranking
    anchor = f"model-{_e(r.model)}"
    out = [
        f"<h2 id='{anchor}'>{_e(r.model)}: ranked by {_e(BY_TITLE[r.by])}</h2>",
        "<p class='meta'>Constraints: " + _e("; ".join(r.constraints.describe())) + ".</p>",
    ]
    out.append(_ranking_table(r))
    out.append(_cost_latency(r))
    out.append(_distributions(s))
    out.append(_operators(s))
    out.append(_under_load(r))
    out.append(_timelines(s.timelines))
    return "".join(out)


def _cell_value(text: str) -> str:
    """Sort key of a cell: its leading number when it has one."""
    head = text.split(" ")[0].split("-")[0].rstrip("=").replace(",", "")
    try:
        return str(float(head))
    except ValueError:
        return text


def _ranking_table(r: Ranking) -> str:
    foot = Footnotes()
    if not r.ranked:
        out = [
            f"<p><strong>No choice meets the constraints</strong> ({len(r.excluded)} "
            "result(s) checked).</p>"
        ]
    else:
        cols = columns(r, foot)
        # A "... CI" column is shown under the figure it qualifies, to keep the table narrow.
        merged = [i for i, (name, _) in enumerate(cols) if name.endswith("CI") or "CI " in name]
        out = ["<div class='scroll'><table class='rank'><thead><tr>"]
        out += [
            f"<th>{_e(name)}{'<br><small>(95% CI)</small>' if i + 1 in merged else ''}</th>"
            for i, (name, _) in enumerate(cols)
            if i not in merged
        ]
        out.append("</tr></thead><tbody>")
        for c in r.ranked:
            cls = "front" if c.pareto else ""
            out.append(f"<tr class='{cls}' data-job='{_e(c.job_id)}'>")
            for i, (name, fn) in enumerate(cols):
                if i in merged:
                    continue
                text = fn(c)
                ci = f"<br><small>{_e(cols[i + 1][1](c))}</small>" if i + 1 in merged else ""
                klass = _cell_class(name, text)
                out.append(
                    f"<td class='{klass}' data-v='{_e(_cell_value(text))}'>{_e(text)}{ci}</td>"
                )
            out.append("</tr>")
        out.append("</tbody></table></div>")
        out.append(
            f"<p class='legend'>rank <b>2=</b>: tied within noise ({r.confidence:.0%} "
            "confidence intervals overlap); <b>-</b>: unranked, figure unknown (an unknown "
            f"cost is never free); front <b>*</b>: Pareto front of p{r.percentile} latency "
            "vs cost; <span class='est'>est.</span>: from nameplate power; "
            "<span class='sim'>sim.</span>: replayed (simulated) telemetry. Click a header "
            "to sort.</p>"
        )
        out.append(
            "<ul class='notes small'>"
            + "".join(f"<li>basis {_e(line)}</li>" for line in foot.lines())
            + "</ul>"
        )
    excl = exclusion_lines(r, limit=None)
    if excl:
        out.append("<details><summary>Excluded by constraints</summary><ul class='excl'>")
        out += [f"<li>{_e(line.strip())}</li>" for line in excl]
        out.append("</ul></details>")
    if r.notes:
        out.append("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in r.notes))
        out.append("</ul>")
    return "".join(out)


def _cell_class(name: str, text: str) -> str:
    classes = []
    if text and (text[0].isdigit() or text.startswith("-0")):
        classes.append("num")
    if text == "unknown":
        classes.append("unknown")
    if text.endswith(" est."):
        classes.append("est")
    if text.endswith(" sim."):
        classes.append("sim")
    return " ".join(classes)


def _groups(choices: Sequence[Choice]) -> dict[str, int]:
    return {d: i for i, d in enumerate(sorted({c.device for c in choices}))}


def _cost_latency(r: Ranking) -> str:
    everyone = r.ranked + r.excluded
    groups = _groups(everyone)
    points = [
        Point(
            c.job_id,
            c.label,
            c.latency_ms.point,
            c.cost.usd_per_million,
            groups[c.device],
            c.pareto,
            not c.exclusions,
            cost_qualifier(c.cost).strip(),
        )
        for c in everyone
        if c.latency_ms is not None and c.cost.usd_per_million is not None
    ]
    unknown = [c.label for c in everyone if c.cost.usd_per_million is None]
    head = f"<h3>Cost against p{r.percentile} latency, with the Pareto front</h3>"
    if not points:
        return (
            head + "<p class='empty'>No choice has a known cost, so there is nothing to plot: "
            "add <code>cost:</code> to the devices in inventory.yaml or pass --inventory.</p>"
        )
    chart = pareto_chart(
        points,
        f"p{r.percentile} latency, ms",
        "USD per million inferences",
        r.constraints.latency_ms,
        sorted(groups.items(), key=lambda kv: kv[1]),
    )
    caption = (
        "Filled: meets the constraints; hollow grey: excluded. Black ring and dashed step "
        "line: the Pareto front (no other qualifying choice is both faster and cheaper). "
        "Colour = device."
    )
    if unknown:
        caption += " Not plotted (unknown cost): " + ", ".join(unknown) + "."
    return f"{head}<figure class='chart'>{chart}<figcaption>{_e(caption)}</figcaption></figure>"


def _distributions(s: ModelSection) -> str:
    r = s.ranking
    head = "<h3>Latency distribution per choice</h3>"
    hist = s.histograms
    everyone = r.ranked + r.excluded
    rows = [
        Distribution(
            c.job_id,
            c.label,
            hist.counts[c.job_id],
            c.p50_ms,
            c.p99_ms,
            (c.latency_ms.lo, c.latency_ms.hi) if c.latency_ms else None,
            _groups(everyone)[c.device],
            not c.exclusions,
        )
        for c in everyone
        if c.job_id in hist.counts
    ]
    if not rows or not hist.edges_ms:
        return head + "<p class='empty'>No per-iteration latency samples stored.</p>"
    chart = distributions_chart(rows, hist.edges_ms, r.percentile, r.constraints.latency_ms)
    caption = (
        "Every per-iteration sample, binned on one shared log axis (tails beyond p0.1/p99.9 "
        f"of all choices fall in the outer bins). Solid tick: p50; dotted: p99; shaded band: "
        f"p{r.percentile} {r.confidence:.0%} confidence interval. Faded: excluded by the "
        "constraints."
    )
    return f"{head}<figure class='chart'>{chart}<figcaption>{_e(caption)}</figcaption></figure>"


def _operators(s: ModelSection, top: int = 10) -> str:
    """Per-operator bars of the top profiled choices (``profile: true`` on the runtime)."""
    if not s.op_profiles:
        return ""
    out = ["<h3>Where the time goes: top operators of the top choices</h3>"]
    for label, job_id, prof in s.op_profiles:
        total = sum(r.total_ns for r in prof.rows) or 1
        bars = [
            OpBar(
                f"{r.node} ({r.op_type})",
                per_inference_ms(r.total_ns, prof),
                r.total_ns / total,
                unit_name(r.exec_unit),
                r.kernel,
                on_unit(prof.requested_unit, r.exec_unit) is False,
            )
            for r in prof.rows[:top]
        ]
        chart = op_bars_chart(f"Top operators of {label}", bars)
        caption = (
            f"{label} (job {job_id}): the {len(bars)} operators with the most time in a "
            f"separate profiling pass of {prof.iterations} runs after the timed loop; red: not "
            f"on the requested unit ({unit_name(prof.requested_unit)}). "
            + "; ".join(placement_lines(prof)[:2])
        )
        out.append(f"<figure class='chart'>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    return "".join(out)


def _under_load(r: Ranking) -> str:
    """Server scenarios as throughput-latency curves (one chart per bound), offline sweeps
    as a table with the best point marked.
    """
    head = "<h3>Throughput under load</h3>"
    points = r.load_points
    if not points:
        return (
            head + "<p class='empty'>No offline or server scenario in this run: add a scenario "
            "with <code>kind: server</code> (<code>qps: auto</code>, <code>latency_ms</code>) "
            "or <code>kind: offline</code> to the plan to measure throughput under load.</p>"
        )
    everyone = r.ranked + r.excluded
    labels = {c.job_id: c.label for c in everyone}
    out = [head]
    server = [p for p in points if p.kind == "server"]
    bounds = sorted({(p.percentile, p.latency_bound_ms or 0.0) for p in server})
    for pct, bound in bounds:
        jobs: dict[str, list[LoadPointRow]] = {}
        for p in server:
            if (p.percentile, p.latency_bound_ms or 0.0) == (pct, bound):
                jobs.setdefault(p.job_id, []).append(p)
        curves: list[LoadCurve] = []
        for job_id, pts in jobs.items():
            pts = [p for p in pts if p.offered_qps and p.percentile_ms is not None]
            held = [i for i, p in enumerate(pts) if p.bound_held]
            curves.append(
                LoadCurve(
                    job_id,
                    labels.get(job_id, job_id),
                    [p.offered_qps or 0.0 for p in pts],
                    [p.percentile_ms or 0.0 for p in pts],
                    [p.complete for p in pts],
                    max(held, key=lambda i: pts[i].target_qps or 0.0) if held else None,
                    len(curves),
                )
            )
        chart = throughput_latency_chart(curves, pct, bound or None)
        caption = (
            f"Each point is one server load point: Poisson arrivals at a target rate, served by "
            f"the executors; x is the rate the schedule offered, y the p{pct:g} latency from each "
            "request's "
            "scheduled arrival (queueing included). Ringed: the peak (the highest rate that met "
            "the bound). Hollow: the point stopped early once the bound was lost (its value is "
            "a lower bound). One colour per choice."
        )
        out.append(f"<figure class='chart'>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    offline = [p for p in points if p.kind == "offline"]
    if offline:
        out.append(
            "<div class='scroll'><table class='rank offline'><thead><tr>"
            + "".join(
                f"<th>{h}</th>"
                for h in (
                    "choice",
                    "concurrency",
                    "batch",
                    "threads each",
                    "samples/s",
                    "p50 ms",
                    "p99 ms",
                    "CPU util",
                    "best",
                )
            )
            + "</tr></thead><tbody>"
        )
        for p in offline:
            cells = [
                labels.get(p.job_id, p.job_id),
                str(p.concurrency),
                str(p.batch_size),
                str(p.threads),
                num(p.samples_per_s, 4),
                num(p.p50_ms),
                num(p.p99_ms),
                f"{p.cpu_util:.0%}" if p.cpu_util is not None else "n/a",
                "*" if p.headline else "",
            ]
            out.append(
                f"<tr data-job='{_e(p.job_id)}'>"
                + "".join(
                    f"<td class='{_cell_class('', c)}' data-v='{_e(_cell_value(c))}'>{_e(c)}</td>"
                    for c in cells
                )
                + "</tr>"
            )
        out.append("</tbody></table></div>")
        out.append(
            "<p class='legend'>Offline: requests queued back to back; latency is each request's "
            "own run. <b>*</b>: the point with the most samples per second (the result row's "
            "figures). CPU util: the worker's CPU time over the point on all its CPUs.</p>"
        )
    return "".join(out)


def _timelines(timelines: Sequence[SoakTimeline]) -> str:
    head = "<h3>Thermal and power timelines of soak runs</h3>"
    if not timelines:
        return (
            head + "<p class='empty'>No soak runs in this run: add a scenario with "
            "<code>kind: soak</code> (and <code>duration_s</code>) to the plan to see "
            "temperature, power and throughput over time.</p>"
        )
    out = [head]
    x_label = "time, s (0 = measuring starts)"
    for t in timelines:
        sim = " <span class='badge sim'>simulated telemetry</span>" if t.simulated else ""
        out.append(
            f"<div class='soak' data-job='{_e(t.job_id)}'><b>{_e(t.device)} / {_e(t.variant)} /"
            f" {_e(t.runtime_name)}</b>{sim}<div class='timelines'>"
        )
        charts = []
        if t.temperature:
            lines = [Line(s.label, s.t_s, s.values) for s in t.temperature]
            charts.append(timeline_chart("temperature", "°C", lines, x_label))
        if t.power:
            lines = [Line(s.label, s.t_s, s.values) for s in t.power]
            charts.append(timeline_chart("power", "W", lines, x_label))
        if t.windows:
            xs = [float(w["t_start_s"]) for w in t.windows]
            charts.append(
                timeline_chart(
                    "throughput per window",
                    "inf/s",
                    [Line("inf/s", xs, [float(w["throughput_ips"]) for w in t.windows])],
                    x_label,
                )
            )
            charts.append(
                timeline_chart(
                    "latency per window",
                    "ms",
                    [
                        Line("p50", xs, [float(w["p50_ms"]) for w in t.windows]),
                        Line("p99", xs, [float(w["p99_ms"]) for w in t.windows]),
                    ],
                    x_label,
                )
            )
        out += [f"<figure class='chart'>{c}</figure>" for c in charts]
        if not t.temperature and not t.power:
            out.append(
                "<p class='empty'>No temperature or power sensor on this device: only "
                "throughput and latency per window are shown.</p>"
            )
        out.append("</div></div>")
    return "".join(out)


def _footer(bundle: ReportBundle) -> str:
    if not bundle.sections:
        return ""
    lines = method_lines(bundle.sections[0].ranking)
    return (
        "<h2>Method</h2><ul class='small'>"
        + "".join(f"<li>{_e(line)}</li>" for line in lines)
        + "</ul>"
    )
