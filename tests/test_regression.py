"""Nightly verdicts on synthetic histories stored in real DuckDB files.

Each test writes a week of nights through the Store API (every per-iteration latency kept),
then evaluates tonight's run as ``rigbench nightly`` does and checks one behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigbench.controller.nightly.evaluate import (
    EXIT_FARM,
    EXIT_OK,
    EXIT_REGRESSION,
    DeviceHealth,
    NightlyReport,
    evaluate_night,
    record_checks,
)
from rigbench.controller.nightly.verdicts import Outcome
from rigbench.controller.store import Store
from rigbench.errors import StoreError
from tests.builders.nightly import FP, History, Series

PI, ORIN = Series(device="pi5-01"), Series(device="orin-01", median_ns=800_000.0)


def week(tmp_path: Path, nights: int = 7, **kw: object) -> History:
    h = History(Store(tmp_path / "store.duckdb"), **kw)  # type: ignore[arg-type]
    for _ in range(nights):
        h.night([PI, ORIN])
    return h


def outcome(report: NightlyReport, device: str, metric: str) -> Outcome:
    (c,) = [c for c in report.comparisons if c.device == device and c.metric == metric]
    return c.outcome


def test_injected_five_percent_slowdown_is_a_regression(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", slowdown=1.05), ORIN])
    report = evaluate_night(h.store, tonight)
    assert outcome(report, "pi5-01", "latency_p50") is Outcome.REGRESSION
    assert report.exit_code == EXIT_REGRESSION


def test_only_the_slowed_device_regresses(tmp_path: Path):
    h = week(tmp_path)
    report = evaluate_night(h.store, h.night([Series(device="pi5-01", slowdown=1.05), ORIN]))
    assert outcome(report, "orin-01", "latency_p50") is Outcome.NO_CHANGE


def test_a_night_like_the_others_exits_0(tmp_path: Path):
    h = week(tmp_path)
    report = evaluate_night(h.store, h.night([PI, ORIN]))
    assert report.exit_code == EXIT_OK
    assert {c.outcome for c in report.comparisons if c.metric == "latency_p50"} == {
        Outcome.NO_CHANGE
    }


def test_the_regression_names_the_changed_model_digest(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", slowdown=1.2, model_version="v2"), ORIN])
    report = evaluate_night(h.store, tonight)
    (c,) = [c for c in report.regressions]
    assert "model digest" in {x.what for x in c.changes}
    assert len(c.baseline_runs) == 7


def test_missing_device_exits_2_not_1(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", slowdown=1.2)])  # orin-01 is gone, pi5 slower
    report = evaluate_night(h.store, tonight)
    assert [d.state for d in report.devices if d.device == "orin-01"] == ["missing"]
    assert report.regressions and report.exit_code == EXIT_FARM


def test_missing_device_series_are_farm_errors(tmp_path: Path):
    h = week(tmp_path)
    report = evaluate_night(h.store, h.night([PI]))
    assert outcome(report, "orin-01", "job") is Outcome.ERROR


def test_device_dropped_from_the_selection_is_retired_not_missing(tmp_path: Path):
    h = week(tmp_path)
    report = evaluate_night(h.store, h.night([PI]), selected_devices={"pi5-01"})
    assert [d.state for d in report.devices if d.device == "orin-01"] == ["retired"]
    assert report.exit_code == EXIT_OK


def test_unreachable_device_exits_2(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([PI, Series(device="orin-01", failed="unreachable")])
    report = evaluate_night(h.store, tonight)
    assert [d.state for d in report.devices if d.device == "orin-01"] == ["unreachable"]
    assert report.exit_code == EXIT_FARM


def test_device_failing_the_canary_exits_2(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([PI])  # the runner does not measure a device that failed its canary
    health = {"orin-01": DeviceHealth("orin-01", False, "top-1 class differs")}
    report = evaluate_night(h.store, tonight, health=health)
    assert [d.state for d in report.devices if d.device == "orin-01"] == ["unhealthy"]
    assert report.exit_code == EXIT_FARM


def test_job_failing_for_the_model_exits_1(tmp_path: Path):
    h = week(tmp_path)
    report = evaluate_night(h.store, h.night([PI, Series(device="orin-01", failed="model")]))
    assert outcome(report, "orin-01", "job") is Outcome.FAILED
    assert report.exit_code == EXIT_REGRESSION


def test_fingerprint_change_is_a_new_baseline_not_a_regression(tmp_path: Path):
    h = week(tmp_path)
    h.fingerprints["pi5-01"] = {**FP, "runtime.onnxruntime": "1.33.0"}
    report = evaluate_night(h.store, h.night([Series(device="pi5-01", slowdown=1.3), ORIN]))
    assert outcome(report, "pi5-01", "latency_p50") is Outcome.NEW_BASELINE
    assert report.exit_code == EXIT_OK


def test_device_state_lists_its_fingerprint_change(tmp_path: Path):
    h = week(tmp_path)
    h.fingerprints["pi5-01"] = {**FP, "kernel": "6.6.40"}
    report = evaluate_night(h.store, h.night([PI, ORIN]))
    (pi,) = [d for d in report.devices if d.device == "pi5-01"]
    assert [str(c) for c in pi.fingerprint_changes] == ["fingerprint.kernel: 6.6.31 -> 6.6.40"]


def test_throttled_night_is_flagged_and_not_evidence(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", slowdown=1.3, throttled=True), ORIN])
    report = evaluate_night(h.store, tonight)
    (c,) = [c for c in report.comparisons if c.device == "pi5-01" and c.metric == "latency_p50"]
    assert c.outcome is Outcome.NOT_ENOUGH_DATA
    assert any("throttled" in f for f in c.flags)


def test_an_emulated_device_is_judged_on_accuracy_never_on_speed(tmp_path: Path):
    emu = Series(device="pi5-emu", emulated=True)
    h = History(Store(tmp_path / "store.duckdb"))
    for _ in range(7):
        h.night([emu, ORIN])
    slower_and_wrong = Series(
        device="pi5-emu", emulated=True, slowdown=3.0, peak_rss_bytes=240_000_000, max_abs_err=0.5
    )
    report = evaluate_night(h.store, h.night([slower_and_wrong, ORIN]))
    for metric in ("latency_p50", "peak_rss"):
        (c,) = [c for c in report.comparisons if c.device == "pi5-emu" and c.metric == metric]
        assert c.outcome is Outcome.NOT_ENOUGH_DATA and "emulated" in c.message
        assert any("emulated" in f for f in c.flags)
    assert outcome(report, "pi5-emu", "max_abs_err") is Outcome.REGRESSION
    assert outcome(report, "orin-01", "latency_p50") is Outcome.NO_CHANGE


def test_first_night_is_not_enough_data(tmp_path: Path):
    h = History(Store(tmp_path / "store.duckdb"))
    report = evaluate_night(h.store, h.night([PI]))
    assert {c.outcome for c in report.comparisons} == {Outcome.NOT_ENOUGH_DATA}
    assert report.exit_code == EXIT_OK


def test_memory_growth_is_a_regression(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", peak_rss_bytes=80_000_000), ORIN])
    assert outcome(evaluate_night(h.store, tonight), "pi5-01", "peak_rss") is Outcome.REGRESSION


def test_energy_growth_is_a_regression(tmp_path: Path):
    h = History(Store(tmp_path / "store.duckdb"))
    for _ in range(5):
        h.night([Series(energy_mj=2.0)])
    tonight = h.night([Series(energy_mj=2.5)])
    report = evaluate_night(h.store, tonight)
    assert outcome(report, "pi5-01", "energy_per_inference") is Outcome.REGRESSION


def test_accuracy_loss_is_a_regression(tmp_path: Path):
    h = week(tmp_path)
    tonight = h.night([Series(device="pi5-01", max_abs_err=0.05), ORIN])
    assert outcome(evaluate_night(h.store, tonight), "pi5-01", "max_abs_err") is (
        Outcome.REGRESSION
    )


def test_pinned_run_is_the_baseline(tmp_path: Path):
    h = History(Store(tmp_path / "store.duckdb"))
    pinned = h.night([PI])
    for _ in range(3):
        h.night([Series(slowdown=1.3)])  # a slow week became the recent baseline
    tonight = h.night([Series(slowdown=1.3)])
    assert evaluate_night(h.store, tonight).exit_code == EXIT_OK
    report = evaluate_night(h.store, tonight, pin=pinned)
    assert report.exit_code == EXIT_REGRESSION
    assert report.regressions[0].baseline_runs == [pinned]


def test_unknown_pinned_run_is_a_clear_error(tmp_path: Path):
    h = week(tmp_path, nights=1)
    with pytest.raises(StoreError, match="no run 'nope'"):
        evaluate_night(h.store, h.night([PI, ORIN]), pin="nope")


def test_lasting_regression_is_reported_until_it_is_half_the_baseline(tmp_path: Path):
    h = week(tmp_path)
    flagged = []
    for _ in range(6):
        report = evaluate_night(h.store, h.night([Series(device="pi5-01", slowdown=1.2), ORIN]))
        record_checks(h.store, report)
        flagged.append(report.exit_code)
    assert flagged == [1, 1, 1, 1, 0, 0]


def test_verdicts_are_kept_in_the_store(tmp_path: Path):
    h = week(tmp_path, nights=2)
    report = evaluate_night(h.store, h.night([Series(device="pi5-01", slowdown=1.5), ORIN]))
    record_checks(h.store, report)
    rows = h.store.query(
        "SELECT device, outcome, changes_json FROM nightly_checks "
        "WHERE run_id = ? AND metric = 'latency_p50' ORDER BY device",
        [report.run_id],
    )
    assert [(r["device"], r["outcome"]) for r in rows] == [
        ("orin-01", "no change"),
        ("pi5-01", "regression"),
    ]
    assert json.loads(rows[1]["changes_json"]) == []


def test_report_json_carries_the_exit_code(tmp_path: Path):
    h = week(tmp_path, nights=2)
    report = evaluate_night(h.store, h.night([PI]))
    assert json.loads(report.to_json())["exit_code"] == EXIT_FARM
