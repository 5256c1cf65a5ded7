"""One small line chart as inline SVG: no JavaScript, no fonts or scripts from the network.

The trend report must open from a CI artifact or an e-mail attachment on a machine with no
internet, so charts are plain SVG elements with ``<title>`` tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

COLORS = {
    "": "#1f77b4",
    "regression": "#d62728",
    "improvement": "#2ca02c",
    "throttled": "#ff7f0e",
}


@dataclass(frozen=True)
class ChartPoint:
    """One night on a chart."""

    label: str  # x-axis label (a date)
    value: float | None  # the line (None: a gap)
    upper: float | None = None  # a lighter second line above it (p90), optional
    mark: str = ""  # "", "regression", "improvement" or "throttled"
    tooltip: str = ""


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def line_chart(
    points: Sequence[ChartPoint],
    y_label: str,
    fmt: Callable[[float], str],
    segment_starts: Sequence[int] = (),
    width: int = 640,
    height: int = 190,
) -> str:
    """An SVG chart of ``points`` in order, with a dashed line where a new baseline starts."""
    left, right, top, bottom = 64, 14, 16, 30
    values = [v for p in points for v in (p.value, p.upper) if v is not None]
    if not values:
        return f'<svg width="{width}" height="40"><text x="4" y="24">no data</text></svg>'
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(y_label)}">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    for t in nice_ticks(lo, hi):
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            'stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y(t) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(fmt(t))}</text>"
        )
    out.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for i in segment_starts:
        xs = (x(i - 1) + x(i)) / 2
        out.append(
            f'<line x1="{xs:.1f}" x2="{xs:.1f}" y1="{top}" y2="{top + plot_h}" '
            'stroke="#888" stroke-dasharray="4 3"/>'
            f'<text x="{xs + 3:.1f}" y="{top + 10}" font-size="9" fill="#555">new baseline</text>'
        )
    for attr, style in (("upper", 'stroke="#9ecae1" stroke-dasharray="2 2"'), ("value", "")):
        run: list[str] = []
        paths = []
        for i, p in enumerate(points):
            v = getattr(p, attr)
            if v is None:
                if len(run) > 1:
                    paths.append(run)
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
        if len(run) > 1:
            paths.append(run)
        for path in paths:
            stroke = style or 'stroke="#1f77b4" stroke-width="1.5"'
            out.append(f'<polyline fill="none" {stroke} points="{" ".join(path)}"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        color = COLORS.get(p.mark, COLORS[""])
        r = 5 if p.mark in ("regression", "improvement") else 3
        fill = "white" if p.mark == "throttled" else color
        ring = (
            f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="8" fill="none" stroke="#333"/>'
            if i == n - 1
            else ""
        )
        out.append(
            f"<g><title>{escape(p.tooltip or p.label)}</title>{ring}"
            f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="{r}" fill="{fill}" '
            f'stroke="{color}" stroke-width="1.5"/></g>'
        )
    shown = sorted({0, n - 1, n // 2}) if n > 2 else list(range(n))
    for i in shown:
        out.append(
            f'<text x="{x(i):.1f}" y="{height - 10}" font-size="10" text-anchor="middle">'
            f"{escape(points[i].label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
