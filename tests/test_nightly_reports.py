"""The Markdown summary and the HTML trend report of a nightly verdict."""

from __future__ import annotations

import re
from pathlib import Path

from rigbench.controller.nightly.evaluate import NightlyReport, evaluate_night, record_checks
from rigbench.controller.nightly.runner import write_reports
from rigbench.controller.store import Store
from rigbench.reports.nightly_markdown import render_markdown
from tests.builders.nightly import FP, History, Series, trend_page

PI = Series(device="pi5-01")


def night_after_week(tmp_path: Path, tonight: list[Series]) -> tuple[History, NightlyReport]:
    h = History(Store(tmp_path / "store.duckdb"))
    for _ in range(5):
        h.night([PI])
    report = evaluate_night(h.store, h.night(tonight))
    record_checks(h.store, report)
    return h, report


def test_markdown_headline_gives_the_verdict_and_exit_code(tmp_path: Path):
    _, report = night_after_week(tmp_path, [Series(slowdown=1.3, model_version="v2")])
    assert render_markdown(report).startswith("# rigbench nightly `nightly`: REGRESSION (exit 1)")


def test_markdown_regression_lists_what_changed(tmp_path: Path):
    _, report = night_after_week(tmp_path, [Series(slowdown=1.3, model_version="v2")])
    section = render_markdown(report).split("## Regressions")[1].split("## All")[0]
    assert "what changed: model digest:" in section


def test_markdown_new_baseline_names_the_fingerprint_change(tmp_path: Path):
    h = History(Store(tmp_path / "store.duckdb"))
    h.night([PI])
    h.fingerprints["pi5-01"] = {**FP, "kernel": "6.6.40"}
    report = evaluate_night(h.store, h.night([PI]))
    text = render_markdown(report)
    assert "## New baselines" in text and "fingerprint.kernel: 6.6.31 -> 6.6.40" in text


def test_trend_report_is_self_contained(tmp_path: Path):
    h, report = night_after_week(tmp_path, [Series(slowdown=1.3)])
    page = trend_page(h.store, report)
    assert "<svg" in page and "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_trend_report_charts_every_night_of_the_series(tmp_path: Path):
    h, report = night_after_week(tmp_path, [PI])
    page = trend_page(h.store, report)
    latency_chart = page.split('aria-label="p50 latency (ms)"')[1].split("</svg>")[0]
    assert latency_chart.count('<g class="night') == 6


def test_trend_report_marks_the_regression_night_red(tmp_path: Path):
    h, report = night_after_week(tmp_path, [Series(slowdown=1.3)])
    page = trend_page(h.store, report)
    latency_chart = page.split('aria-label="p50 latency (ms)"')[1].split("</svg>")[0]
    assert latency_chart.count('<g class="night regression">') == 1


def test_trend_report_marks_a_new_baseline(tmp_path: Path):
    h = History(Store(tmp_path / "store.duckdb"))
    h.night([PI])
    h.fingerprints["pi5-01"] = {**FP, "kernel": "6.6.40"}
    report = evaluate_night(h.store, h.night([PI]))
    assert "new baseline</text>" in trend_page(h.store, report)


def test_reports_are_written_to_the_out_folder(tmp_path: Path):
    h, report = night_after_week(tmp_path, [PI])
    files = write_reports(h.store, report, tmp_path / "out", nights=30)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "junit.xml",
        "nightly.json",
        "summary.md",
        "trends.html",
    ]
    assert all(p.stat().st_size > 0 for p in files.values())
