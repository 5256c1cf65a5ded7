"""Inline SVG charts, drawn in Python so the HTML report needs no network and no library.

Charts are plain strings of SVG markup: they can be tested without a browser, they render in
any browser offline, and they stay small (a distribution is one ``<path>``, not a rect per
bin). Every mark has a ``<title>`` so hovering shows its figures, and carries ``data-job``
so the page script can highlight a choice across the table and the charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
FRONT = "#1b1b1b"
# The styles every chart's classes need; pages that show charts include them.
CHART_CSS = """
svg.chart { max-width: 100%; height: auto; display: block; }
svg .axis { stroke: #57606a; stroke-width: 1; } svg .grid { stroke: #eaeef2; }
svg .tick { font-size: 11px; fill: #57606a; } svg .label { font-size: 12px; fill: #24292f; }
svg .ctitle { font-size: 12.5px; font-weight: 600; fill: #24292f; }
svg .ptlabel { font-size: 11px; fill: #24292f; } svg .rowlabel { font-size: 11.5px; fill: #24292f; }
svg .legend { font-size: 11px; }
svg .front { fill: none; stroke: #1b1b1b; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .target { stroke: #cf222e; stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .series { fill: none; stroke-width: 1.6; }
svg .trendline { stroke: #4e79a7; }
svg .baseline { stroke: #888; stroke-dasharray: 4 3; }
svg circle.tonight { fill: none; stroke: #24292f; stroke-width: 1; }
svg .mark { stroke: #24292f; stroke-width: 1.3; } svg .mark.p99 { stroke-dasharray: 2 2; }
svg .ci { fill: #24292f; fill-opacity: 0.12; }
svg circle.hl { stroke: #cf222e !important; stroke-width: 3 !important; }
"""
MUTED = "#9aa0a6"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def fmt(v: float) -> str:
    """Compact tick label: 0.5, 12, 2,500, 12k, 3e-5."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a >= 1e3:
        return f"{v:,.0f}"
    if a < 1e-3:
        return f"{v:.0e}".replace("e-0", "e-")
    return f"{v:.3g}"


def tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for axis ticks that are exact, and so never two alike (70.8, 71.0, 71.2, not
    71, 71, 71): the fewest decimals (or significant digits, below 0.001) that write every tick
    exactly.
    """
    vals = [float(v) for v in values]
    if not vals:
        return []
    step = min((abs(b - a) for a, b in zip(vals, vals[1:]) if b != a), default=abs(vals[0]) or 1.0)
    if step < 1e-3 and max(abs(v) for v in vals) < 1e-2:
        for k in range(0, 8):
            labels = [f"{v:.{k}e}".replace("e-0", "e-") for v in vals]
            if _exact(labels, vals, step):
                return ["0" if v == 0 else lab for lab, v in zip(labels, vals)]
    for d in range(0, 10):
        labels = [f"{v:,.{d}f}" for v in vals]
        if _exact(labels, vals, step):
            return ["0" if v == 0 else lab for lab, v in zip(labels, vals)]
    return [fmt(v) for v in vals]


def _exact(labels: Sequence[str], vals: Sequence[float], step: float) -> bool:
    return len(set(labels)) == len(labels) and all(
        abs(float(lab.replace(",", "")) - v) <= step * 1e-3 for lab, v in zip(labels, vals)
    )


@dataclass(frozen=True)
class Scale:
    """Maps data values in [lo, hi] to pixels in [p0, p1], linear or log10."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    @staticmethod
    def fit(values: Sequence[float], p0: float, p1: float, log: bool | None = None) -> Scale:
        """A scale over ``values`` with a little margin; log when they span > 20x."""
        vals = [v for v in values if v is not None and math.isfinite(v)]
        if not vals:
            return Scale(0.0, 1.0, p0, p1)
        lo, hi = min(vals), max(vals)
        use_log = log if log is not None else (lo > 0 and hi / lo > 20)
        if use_log and lo > 0:
            return Scale(lo / 1.25, hi * 1.25, p0, p1, True)
        span = hi - lo or abs(hi) or 1.0
        return Scale(
            max(0.0, lo - 0.08 * span) if lo >= 0 else lo - 0.08 * span, hi + 0.08 * span, p0, p1
        )

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo)
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / ((self.hi - self.lo) or 1.0)
        return self.p0 + t * (self.p1 - self.p0)

    def ticks(self, target: int = 6) -> list[float]:
        if self.log:
            out = []
            for k in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
                for m in (1, 2, 5):
                    v = m * 10.0**k
                    if self.lo <= v <= self.hi:
                        out.append(v)
            return out if len(out) <= 2 * target else [v for v in out if _is_decade(v)]
        raw = (self.hi - self.lo) / max(1, target)
        mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
        first = math.ceil(self.lo / step) * step
        n = int((self.hi - first) / step) + 1
        return [first + i * step for i in range(max(0, n))]


def _axis_labels(s: Scale, ticks: Sequence[float]) -> list[str]:
    """Log axes keep the compact form (1, 2, 5, 10, 20k); linear ones exact distinct labels."""
    return [fmt(v) for v in ticks] if s.log else tick_labels(ticks)


def _is_decade(v: float) -> bool:
    return abs(math.log10(v) - round(math.log10(v))) < 1e-9


def _t(s: str) -> str:
    return escape(s, quote=True)


def svg_open(width: float, height: float, label: str, cls: str = "chart") -> str:
    return (
        f'<svg class="{cls}" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="{_t(label)}" style="{FONT}">'
    )


def axis_x(s: Scale, y: float, label: str, top: float | None = None) -> str:
    """Bottom axis with ticks (and light grid lines up to ``top``)."""
    parts = [f'<line class="axis" x1="{s.p0:.1f}" y1="{y:.1f}" x2="{s.p1:.1f}" y2="{y:.1f}"/>']
    ticks = s.ticks()
    for v, text in zip(ticks, _axis_labels(s, ticks)):
        x = s(v)
        if top is not None:
            parts.append(
                f'<line class="grid" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>'
            )
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle">{text}</text>'
        )
    mid = (s.p0 + s.p1) / 2
    parts.append(
        f'<text class="label" x="{mid:.1f}" y="{y + 34:.1f}" text-anchor="middle">'
        f"{_t(label)}</text>"
    )
    return "".join(parts)


def axis_y(s: Scale, x: float, label: str, right: float | None = None) -> str:
    """Left axis with ticks (and light grid lines across to ``right``)."""
    parts = [f'<line class="axis" x1="{x:.1f}" y1="{s.p0:.1f}" x2="{x:.1f}" y2="{s.p1:.1f}"/>']
    ticks = s.ticks(5)
    for v, text in zip(ticks, _axis_labels(s, ticks)):
        y = s(v)
        if right is not None:
            parts.append(
                f'<line class="grid" x1="{x:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}"/>'
            )
        parts.append(
            f'<text class="tick" x="{x - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    mid = (s.p0 + s.p1) / 2
    parts.append(
        f'<text class="label" transform="translate({x - 50:.1f},{mid:.1f}) rotate(-90)" '
        f'text-anchor="middle">{_t(label)}</text>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class Point:
    """One choice in the cost/latency plane."""

    job_id: str
    label: str
    x: float  # latency, ms
    y: float  # cost per million inferences, USD
    group: int  # colour index (the device)
    front: bool
    qualifies: bool
    tag: str = ""  # "est." / "sim." qualifier of the cost


def pareto_chart(
    points: Sequence[Point],
    x_label: str,
    y_label: str,
    target_ms: float | None = None,
    legend: Sequence[tuple[str, int]] = (),
) -> str:
    """Cost against latency; the Pareto front joined by a step line, labelled."""
    w, h = 760.0, 420.0
    left, right, top, bottom = 78.0, 24.0, 16.0, 52.0
    xs = [p.x for p in points] + ([target_ms] if target_ms else [])
    sx = Scale.fit(xs, left, w - right)
    sy = Scale.fit([p.y for p in points], h - bottom, top)
    w += 150.0 if legend else 0.0  # room for the device legend on the right
    out = [svg_open(w, h, f"{y_label} against {x_label}")]
    for i, (name, group) in enumerate(legend):
        y = top + 10 + 18 * i
        out.append(
            f'<circle cx="{w - 140:.1f}" cy="{y - 4:.1f}" r="5" fill="{color(group)}"/>'
            f'<text class="legend" x="{w - 130:.1f}" y="{y:.1f}">{_t(name)}</text>'
        )
    out.append(axis_y(sy, left, y_label, w - right - (150.0 if legend else 0.0)))
    out.append(axis_x(sx, h - bottom, x_label, top))
    if target_ms is not None:
        x = sx(target_ms)
        out.append(
            f'<line class="target" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{h - bottom:.1f}">'
            f"<title>latency target {fmt(target_ms)} ms</title></line>"
            f'<text class="tick" x="{x + 4:.1f}" y="{top + 12:.1f}">'
            f"target {fmt(target_ms)} ms</text>"
        )
    front = sorted((p for p in points if p.front), key=lambda p: p.x)
    if len(front) > 1:
        d = f"M{sx(front[0].x):.1f},{sy(front[0].y):.1f}"
        for prev, p in zip(front, front[1:]):
            d += f" L{sx(p.x):.1f},{sy(prev.y):.1f} L{sx(p.x):.1f},{sy(p.y):.1f}"
        out.append(f'<path class="front" d="{d}"><title>Pareto front</title></path>')
    # Labels of consecutive front points alternate above and below to avoid collisions.
    label_dy = {id(p): (-8.0 if i % 2 == 0 else 16.0) for i, p in enumerate(front)}
    for p in sorted(points, key=lambda p: (p.front, p.qualifies)):
        cx, cy = sx(p.x), sy(p.y)
        fill = color(p.group) if p.qualifies else "none"
        stroke = FRONT if p.front else (color(p.group) if p.qualifies else MUTED)
        r = 6.5 if p.front else 5.0
        status = "Pareto front" if p.front else "qualifies" if p.qualifies else "excluded"
        out.append(
            f'<circle class="pt" data-job="{_t(p.job_id)}" cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if p.front else 1.2}">'
            f"<title>{_t(p.label)}: {fmt(p.x)} ms, ${fmt(p.y)}/M {p.tag} ({status})</title>"
            "</circle>"
        )
        if p.front:
            out.append(
                f'<text class="ptlabel" x="{cx + 9:.1f}" y="{cy + label_dy[id(p)]:.1f}">'
                f"{_t(p.label)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Distribution:
    """One choice's latency histogram on the shared axis, with its percentiles."""

    job_id: str
    label: str
    counts: Sequence[int]
    p50: float | None
    p99: float | None
    ci: tuple[float, float] | None  # interval of the ranked percentile
    group: int
    qualifies: bool


def distributions_chart(
    rows: Sequence[Distribution],
    edges_ms: Sequence[float],
    pct: int,
    target_ms: float | None = None,
) -> str:
    """One filled histogram per choice, on one shared log axis (ridgeline-style rows)."""
    longest = max((len(r.label) for r in rows), default=20)
    row_h, label_w = 30.0, min(440.0, max(200.0, 6.4 * longest + 16))
    w = label_w + 700.0
    top, bottom = 8.0, 52.0
    h = top + row_h * len(rows) + bottom
    sx = Scale(edges_ms[0], edges_ms[-1], label_w, w - 20.0, log=True)
    out = [svg_open(w, h, "latency distributions per choice")]
    axis_y_pos = top + row_h * len(rows)
    out.append(axis_x(sx, axis_y_pos, "latency per inference, ms (log scale)", top))
    for i, r in enumerate(rows):
        base = top + row_h * (i + 1) - 3
        peak = max(r.counts) or 1
        d = f"M{sx(edges_ms[0]):.1f},{base:.1f}"
        for k, c in enumerate(r.counts):
            y = base - (row_h - 6) * c / peak
            d += f" L{sx(edges_ms[k]):.1f},{y:.1f} L{sx(edges_ms[k + 1]):.1f},{y:.1f}"
        d += f" L{sx(edges_ms[-1]):.1f},{base:.1f} Z"
        fill = color(r.group)
        opacity = 0.75 if r.qualifies else 0.25
        out.append(
            f'<g class="dist" data-job="{_t(r.job_id)}">'
            f'<text class="rowlabel" x="{label_w - 8:.1f}" y="{base - 6:.1f}" text-anchor="end">'
            f"{_t(r.label)}</text>"
            f'<path d="{d}" fill="{fill}" fill-opacity="{opacity}" stroke="{fill}">'
            f"<title>{_t(r.label)}: {sum(r.counts)} samples</title></path>"
        )
        if r.ci is not None:
            x0, x1 = sx(r.ci[0]), sx(r.ci[1])
            out.append(
                f'<rect class="ci" x="{x0:.1f}" y="{base - row_h + 6:.1f}" '
                f'width="{max(1.5, x1 - x0):.1f}" height="{row_h - 6:.1f}">'
                f"<title>p{pct} 95% CI {fmt(r.ci[0])}-{fmt(r.ci[1])} ms</title></rect>"
            )
        for name, v in (("p50", r.p50), ("p99", r.p99)):
            if v is not None:
                x = sx(v)
                out.append(
                    f'<line class="mark {name}" x1="{x:.1f}" y1="{base - row_h + 6:.1f}" '
                    f'x2="{x:.1f}" y2="{base:.1f}"><title>{name} {fmt(v)} ms</title></line>'
                )
        out.append("</g>")
    if target_ms is not None and edges_ms[0] <= target_ms <= edges_ms[-1]:
        x = sx(target_ms)
        out.append(
            f'<line class="target" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{axis_y_pos:.1f}">'
            f"<title>latency target {fmt(target_ms)} ms</title></line>"
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]


def timeline_chart(title: str, unit: str, lines: Sequence[Line], x_label: str) -> str:
    """Small line chart of one quantity over time (several series, one colour each)."""
    w, h = 278.0, 190.0
    left, right, top, bottom = 62.0, 10.0, 34.0, 46.0
    sx = Scale.fit([x for ln in lines for x in ln.xs], left, w - right, log=False)
    sy = Scale.fit([y for ln in lines for y in ln.ys], h - bottom, top, log=False)
    out = [svg_open(w, h, title, "chart small")]
    out.append(f'<text class="ctitle" x="{left:.1f}" y="14">{_t(title)}</text>')
    out.append(axis_y(sy, left, unit, w - right))
    out.append(axis_x(sx, h - bottom, x_label, top))
    for i, ln in enumerate(lines):
        if not ln.xs:
            continue
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(ln.xs, ln.ys))
        out.append(
            f'<polyline class="series" points="{pts}" stroke="{color(i)}">'
            f"<title>{_t(ln.label)}</title></polyline>"
        )
        out.append(
            f'<text class="legend" x="{w - right:.1f}" y="{14 + 12 * i:.1f}" '
            f'text-anchor="end" fill="{color(i)}">{_t(ln.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# Marks on a trend: what the nightly concluded about a night.
MARKS = {"regression": PALETTE[3], "improvement": PALETTE[2], "throttled": PALETTE[1]}


@dataclass(frozen=True)
class TrendPoint:
    """One night of one metric."""

    label: str  # the x-axis label (a date)
    value: float | None  # None: not measured that night (a gap)
    mark: str = ""  # "", "regression", "improvement" or "throttled"
    tooltip: str = ""


def _x_label_indices(n: int, room: int) -> list[int]:
    """Which of ``n`` labels to print: evenly strided from the first, the last always, at most
    ``room`` of them and never two closer than the stride.
    """
    if n <= room:
        return list(range(n))
    stride = math.ceil((n - 1) / max(1, room - 1))
    idx = list(range(0, n, stride))
    if idx[-1] != n - 1:
        if n - 1 - idx[-1] < stride:
            idx[-1] = n - 1  # the last night matters more than the one before it
        else:
            idx.append(n - 1)
    return idx


def trend_chart(
    title: str,
    unit: str,
    points: Sequence[TrendPoint],
    segment_starts: Sequence[int] = (),
    width: float = 320.0,
    height: float = 190.0,
) -> str:
    """One metric night after night, on its own scale, ticks that never repeat, labels inside.

    A night is a category (equal spacing); a dashed line marks where a new baseline starts;
    regressions and improvements are filled circles in their colour, throttled nights hollow,
    tonight (the last point) ringed.
    """
    values = [p.value for p in points if p.value is not None]
    top, bottom, right = 30.0, 40.0, 14.0
    if not values:
        return (
            f"{svg_open(width, 60, title, 'chart small')}"
            f'<text class="ctitle" x="8" y="16">{_t(title)}</text>'
            '<text class="tick" x="8" y="40">no data</text></svg>'
        )
    probe = Scale.fit(values, height - bottom, top, log=False)
    labels = tick_labels(probe.ticks(4))
    left = 30.0 + 6.2 * max(len(s) for s in labels)  # room for the widest tick label
    sy = Scale.fit(values, height - bottom, top, log=False)
    n = len(points)
    plot_w = width - left - right

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    out = [svg_open(width, height, f"{title} ({unit})", "chart small trend")]
    out.append(f'<text class="ctitle" x="{left:.1f}" y="16">{_t(title)}</text>')
    ticks = sy.ticks(4)
    for v, text in zip(ticks, tick_labels(ticks)):
        y = sy(v)
        out.append(
            f'<line class="grid" x1="{left:.1f}" y1="{y:.1f}" x2="{width - right:.1f}" '
            f'y2="{y:.1f}"/><text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" '
            f'text-anchor="end">{text}</text>'
        )
    out.append(
        f'<line class="axis" x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" '
        f'y2="{height - bottom:.1f}"/><line class="axis" x1="{left:.1f}" '
        f'y1="{height - bottom:.1f}" x2="{width - right:.1f}" y2="{height - bottom:.1f}"/>'
    )
    mid = (top + height - bottom) / 2
    out.append(
        f'<text class="label" transform="translate(12,{mid:.1f}) rotate(-90)" '
        f'text-anchor="middle">{_t(unit)}</text>'
    )
    for i in segment_starts:
        if 0 < i < n:
            xs = (x(i - 1) + x(i)) / 2
            out.append(
                f'<line class="baseline" x1="{xs:.1f}" y1="{top:.1f}" x2="{xs:.1f}" '
                f'y2="{height - bottom:.1f}"><title>new baseline</title></line>'
                f'<text class="tick" x="{xs + 3:.1f}" y="{top + 10:.1f}">new baseline</text>'
            )
    run: list[str] = []
    for i, p in enumerate([*points, TrendPoint("", None)]):  # a gap ends a line
        if p.value is None:
            if len(run) > 1:
                out.append(f'<polyline class="series trendline" points="{" ".join(run)}"/>')
            run = []
        else:
            run.append(f"{x(i):.1f},{sy(p.value):.1f}")
    for i, p in enumerate(points):
        if p.value is None:
            continue
        cx, cy = x(i), sy(p.value)
        color = MARKS.get(p.mark, PALETTE[0])
        fill = "none" if p.mark == "throttled" else color
        r = 4.5 if p.mark in ("regression", "improvement") else 3.0
        ring = (
            f'<circle class="tonight" cx="{cx:.1f}" cy="{cy:.1f}" r="7.5"/>' if i == n - 1 else ""
        )
        out.append(
            f'<g class="night {p.mark}"><title>{_t(p.tooltip or p.label)}</title>{ring}'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{fill}" stroke="{color}" '
            'stroke-width="1.5"/></g>'
        )
    room = int(plot_w // (6.2 * max(len(p.label) for p in points) + 10)) or 1
    for i in _x_label_indices(n, room):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        out.append(
            f'<text class="tick" x="{x(i):.1f}" y="{height - bottom + 16:.1f}" '
            f'text-anchor="{anchor}">{_t(points[i].label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class OpBar:
    """One operator of a profiled choice: its time per inference and where it ran."""

    label: str  # node (op type)
    ms: float
    share: float  # of the choice's operator time
    unit: str
    kernel: str
    off_unit: bool  # not on the unit the job asked for


def op_bars_chart(title: str, bars: Sequence[OpBar], width: float = 720) -> str:
    """Horizontal bars of the top operators, longest first; off-unit operators in red."""
    row, left, right = 18.0, 300.0, 110.0
    height = 30 + row * len(bars) + 40
    top = max((b.ms for b in bars), default=1.0) or 1.0
    s = Scale(0.0, top, left, width - right)
    parts = [svg_open(width, height, title)]
    for i, b in enumerate(bars):
        y = 24 + i * row
        w = max(s(b.ms) - left, 1.0)
        fill = color(3) if b.off_unit else color(0)
        tip = f"{b.label}: {b.ms:.4g} ms/inference, {100 * b.share:.1f}% on {b.unit}"
        if b.kernel:
            tip += f" ({b.kernel})"
        parts.append(
            f'<text class="tick" x="{left - 6:.1f}" y="{y + 12:.1f}" text-anchor="end">'
            f"{_t(b.label[:44])}</text>"
            f'<rect x="{left:.1f}" y="{y + 2:.1f}" width="{w:.1f}" height="{row - 5:.1f}" '
            f'fill="{fill}"><title>{_t(tip)}</title></rect>'
            f'<text class="tick" x="{left + w + 4:.1f}" y="{y + 12:.1f}">'
            f"{100 * b.share:.1f}% {_t(b.unit)}</text>"
        )
    parts.append(axis_x(s, 28 + row * len(bars), "ms per inference"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class LoadCurve:
    """One server scenario's points: achieved rate against the bound's latency percentile."""

    job_id: str
    label: str
    qps: Sequence[float]
    latency_ms: Sequence[float]
    complete: Sequence[bool]  # False: stopped early (bound lost); the value is a lower bound
    peak: int | None  # index of the peak (the highest rate that met the bound)
    group: int  # colour index: one per curve


def throughput_latency_chart(
    curves: Sequence[LoadCurve], pct: float, bound_ms: float | None
) -> str:
    """Latency percentile (queueing included) against the rate served, one line per choice,
    the bound drawn across; the peak ringed. Log latency axis: it explodes past the knee.
    """
    longest = max((len(c.label) for c in curves), default=10)
    right = min(420.0, 6.2 * longest + 40.0)
    w, h = 560.0 + right, 400.0
    left, top, bottom = 78.0, 16.0, 52.0
    xs = [x for c in curves for x in c.qps]
    ys = [y for c in curves for y in c.latency_ms] + ([bound_ms] if bound_ms else [])
    sx = Scale.fit([0.0, *xs], left, w - right, log=False)
    sy = Scale.fit(ys, h - bottom, top)
    out = [svg_open(w, h, f"p{pct:g} latency against throughput")]
    out.append(axis_y(sy, left, f"p{pct:g} latency, ms (queueing included)", w - right))
    out.append(axis_x(sx, h - bottom, "requests offered per second (Poisson)", top))
    if bound_ms is not None:
        y = sy(bound_ms)
        out.append(
            f'<line class="target" x1="{left:.1f}" y1="{y:.1f}" x2="{w - right:.1f}" '
            f'y2="{y:.1f}"><title>bound p{pct:g} {fmt(bound_ms)} ms</title></line>'
            f'<text class="tick" x="{w - right - 4:.1f}" y="{y - 5:.1f}" text-anchor="end">'
            f"bound {fmt(bound_ms)} ms</text>"
        )
    for i, c in enumerate(curves):
        col = color(c.group)
        order = sorted(range(len(c.qps)), key=lambda k: c.qps[k])
        pts = " ".join(f"{sx(c.qps[k]):.1f},{sy(c.latency_ms[k]):.1f}" for k in order)
        out.append(f'<g class="curve" data-job="{_t(c.job_id)}">')
        out.append(
            f'<polyline class="series" points="{pts}" stroke="{col}" fill="none">'
            f"<title>{_t(c.label)}</title></polyline>"
        )
        for k in order:
            cx, cy = sx(c.qps[k]), sy(c.latency_ms[k])
            note = "" if c.complete[k] else " (stopped early: bound lost; at least this)"
            peak = k == c.peak
            out.append(
                f'<circle class="pt" cx="{cx:.1f}" cy="{cy:.1f}" r="{6.5 if peak else 4}" '
                f'fill="{col if c.complete[k] else "none"}" stroke="{FRONT if peak else col}" '
                f'stroke-width="{2 if peak else 1.2}"><title>{_t(c.label)}: {fmt(c.qps[k])} '
                f"req/s offered, p{pct:g} {fmt(c.latency_ms[k])} ms{note}"
                f"{' (peak)' if peak else ''}</title></circle>"
            )
        y = top + 10 + 18 * i
        out.append(
            f'<circle cx="{w - right + 14:.1f}" cy="{y - 4:.1f}" r="5" fill="{col}"/>'
            f'<text class="legend" x="{w - right + 24:.1f}" y="{y:.1f}">{_t(c.label)}</text>'
        )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
