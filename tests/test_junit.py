"""JUnit XML of a nightly verdict, parsed back as a CI system would read it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rigbench.controller.nightly.evaluate import evaluate_night
from rigbench.controller.store import Store
from rigbench.reports.junit import render_junit
from tests.builders.nightly import History, Series

PI, ORIN = Series(device="pi5-01"), Series(device="orin-01", median_ns=800_000.0)


def junit_for(tmp_path: Path, tonight: list[Series]) -> ET.Element:
    h = History(Store(tmp_path / "store.duckdb"))
    for _ in range(5):
        h.night([PI, ORIN])
    return ET.fromstring(render_junit(evaluate_night(h.store, h.night(tonight))))


def case(root: ET.Element, classname: str, name: str) -> ET.Element:
    (c,) = [
        c for c in root.iter("testcase") if (c.get("classname"), c.get("name")) == (classname, name)
    ]
    return c


def test_one_test_case_per_device_series_and_metric(tmp_path: Path):
    root = junit_for(tmp_path, [PI, ORIN])
    names = sorted(
        (c.get("classname"), c.get("name"))
        for c in root.iter("testcase")
        if c.get("name") != "device"
    )
    metrics = ["energy_per_inference", "latency_p50", "max_abs_err", "peak_rss"]
    assert names == [
        (f"{d}.cnn.fp32.ort-cpu.single-stream", m) for d in ("orin-01", "pi5-01") for m in metrics
    ]


def test_regression_is_a_failure_with_the_change_in_its_message(tmp_path: Path):
    root = junit_for(tmp_path, [Series(device="pi5-01", slowdown=1.3), ORIN])
    failure = case(root, "pi5-01.cnn.fp32.ort-cpu.single-stream", "latency_p50").find("failure")
    assert failure is not None and failure.get("type") == "regression"
    change = re.search(r"([+-][0-9.]+)%$", failure.get("message") or "")
    assert change is not None and 25 < float(change.group(1)) < 35


def test_missing_device_is_an_error(tmp_path: Path):
    root = junit_for(tmp_path, [PI])
    assert case(root, "orin-01", "device").find("error") is not None
    assert root.get("errors") == "2"  # the device, and its one series


def test_not_measured_metric_is_skipped(tmp_path: Path):
    root = junit_for(tmp_path, [PI, ORIN])
    energy = case(root, "pi5-01.cnn.fp32.ort-cpu.single-stream", "energy_per_inference")
    assert energy.find("skipped") is not None


def test_suite_counts_add_up(tmp_path: Path):
    root = junit_for(tmp_path, [Series(device="pi5-01", slowdown=1.3), ORIN])
    total = sum(int(s.get("tests") or 0) for s in root.iter("testsuite"))
    assert root.get("tests") == str(total) == "10"
    assert root.get("failures") == "1" and root.get("errors") == "0"


def test_dots_in_names_do_not_split_the_classname(tmp_path: Path):
    root = junit_for(tmp_path, [Series(device="pi5.lab"), ORIN])
    assert any(c.get("classname", "").startswith("pi5_lab.cnn.") for c in root.iter("testcase"))
