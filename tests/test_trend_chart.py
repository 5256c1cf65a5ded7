"""The nightly trend chart: one chart kit, exact ticks, labels inside, one scale per metric,
checked in headless Chromium.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.controller.nightly.evaluate import evaluate_night, record_checks
from rigbench.controller.store import Store
from rigbench.reports.charts import Scale, TrendPoint, tick_labels, trend_chart
from tests.builders.chromium import CHROMIUM, FLAGS
from tests.builders.nightly import History, Series, trend_page

# --- ticks -------------------------------------------------------------------------------------


def test_ticks_of_a_narrow_range_do_not_all_read_the_same():
    ticks = Scale.fit([70.86, 71.3], 100.0, 0.0).ticks(4)
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(labels) > 1, labels
    assert all(float(s) == pytest.approx(t) for s, t in zip(labels, ticks))


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0.0, 0.1, 0.2, 0.3], ["0", "0.1", "0.2", "0.3"]),
        ([2000.0, 4000.0, 6000.0], ["2,000", "4,000", "6,000"]),
        ([70.8, 71.0, 71.2], ["70.8", "71.0", "71.2"]),
        ([0.00002, 0.00004], ["2e-5", "4e-5"]),
    ],
)
def test_tick_labels_are_exact_with_the_fewest_digits(values, expected):
    assert tick_labels(values) == expected


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(
    lo=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    span=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
)
def test_tick_labels_are_distinct_and_read_back_as_their_ticks(lo: float, span: float):
    ticks = Scale.fit([lo, lo + span], 100.0, 0.0, log=False).ticks(4)
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(labels)
    step = min((b - a for a, b in zip(ticks, ticks[1:])), default=1.0)
    for label, t in zip(labels, ticks):
        assert math.isclose(float(label.replace(",", "")), t, abs_tol=step * 1e-3)


# --- one chart --------------------------------------------------------------------------------


def circles(svg: str) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="[\d.]+" fill', svg)
    ]


def test_a_p50_jump_spans_most_of_its_own_chart():
    points = [TrendPoint(f"03-{d:02d}", 0.10) for d in range(1, 8)] + [TrendPoint("03-08", 0.52)]
    svg = trend_chart("p50 latency", "ms", points)
    ys = [y for _, y in circles(svg)]
    height_of_plot = 190.0 - 30.0 - 40.0
    assert (ys[0] - ys[-1]) / height_of_plot > 0.7  # the jump, not a flat line


def test_the_last_x_label_ends_inside_the_chart():
    points = [TrendPoint(f"03-{d:02d} 02:00", 1.0 + d / 100) for d in range(1, 31)]
    svg = trend_chart("p50 latency", "ms", points, width=320.0)
    labels = re.findall(r'<text class="tick" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">03-', svg)
    x, anchor = labels[-1]
    assert anchor == "end" and float(x) <= 320.0 - 14.0
    assert labels[0][1] == "start"


def test_a_night_without_the_figure_is_a_gap_not_a_zero():
    points = [TrendPoint("a", 1.0), TrendPoint("b", None), TrendPoint("c", 1.2)]
    svg = trend_chart("energy", "mJ", points)
    assert len(circles(svg)) == 2 and "<polyline" not in svg  # no line across the gap


# --- the page in a browser --------------------------------------------------------------------

CHECK = """
<script>
window.addEventListener('load', function () {
  var outside = [], repeated = [], svgs = document.querySelectorAll('svg');
  svgs.forEach(function (svg) {
    var box = svg.getBoundingClientRect(), seen = {};
    svg.querySelectorAll('text').forEach(function (t) {
      var b = t.getBoundingClientRect();  // as drawn: rotation included
      if (b.left < box.left - 0.5 || b.top < box.top - 0.5 || b.right > box.right + 0.5 ||
          b.bottom > box.bottom + 0.5) outside.push(t.textContent);
      if (t.getAttribute('text-anchor') === 'end' && t.getAttribute('class') === 'tick') {
        var k = t.textContent;
        if (seen[k]) repeated.push(k);
        seen[k] = true;
      }
    });
  });
  document.body.setAttribute('data-svgs', String(svgs.length));
  document.body.setAttribute('data-outside', outside.join('|'));
  document.body.setAttribute('data-repeated', repeated.join('|'));
});
</script>
"""


@pytest.fixture
def trends_page(tmp_path: Path) -> Path:
    """Ten nights: p50 flat at 0.10 ms then 0.52 ms tonight; p90 far above; RSS near 71 MB."""
    h = History(Store(tmp_path / "store.duckdb"))
    for k in range(9):
        h.night([Series(median_ns=100_000, peak_rss_bytes=74_300_000 + 40_000 * k, energy_mj=0.3)])
    tonight = h.night(
        [Series(median_ns=100_000, slowdown=5.2, peak_rss_bytes=74_500_000, energy_mj=0.31)]
    )
    report = evaluate_night(h.store, tonight)
    record_checks(h.store, report)
    page = tmp_path / "trends.html"
    page.write_text(trend_page(h.store, report))
    return page


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={page.parent / 'profile'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_every_label_of_the_trend_page_is_inside_its_chart_in_chromium(trends_page: Path):
    checked = trends_page.with_name("checked.html")
    checked.write_text(trends_page.read_text().replace("</body>", CHECK + "</body>"))
    dom = chromium(checked, "--dump-dom").stdout
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body"))]
    assert int(re.search(r'data-svgs="(\d+)"', body).group(1)) >= 4, body
    assert 'data-outside=""' in body, body
    assert 'data-repeated=""' in body, body


@pytest.mark.slow
def test_trend_page_screenshot_is_saved(trends_page: Path):
    shot = trends_page.with_name("trends.png")
    chromium(trends_page, f"--screenshot={shot}", "--window-size=1400,560")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 560)
    keep = os.environ.get("RIGBENCH_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "trends.png")


@pytest.mark.parametrize("n", [2, 5, 10, 11, 30, 31, 60])
def test_x_labels_are_evenly_spaced_and_end_on_the_last_night(n: int):
    points = [TrendPoint(f"03-{d:02d}", 1.0) for d in range(n)]
    xs = [
        float(x)
        for x in re.findall(
            r'<text class="tick" x="([\d.]+)" y="[\d.]+" text-anchor="\w+">03-',
            trend_chart("t", "ms", points),
        )
    ]
    assert xs[-1] == max(xs) and len(xs) >= 2
    gaps = [b - a for a, b in zip(xs, xs[1:])]
    assert min(gaps) >= 6.2 * 5 + 10 - 0.5  # room for a label between any two
