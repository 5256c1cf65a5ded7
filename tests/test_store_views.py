"""The views in human units: the same rows as the tables, in ms, W, MB, degC and parsed JSON."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from rigbench.controller.store import Store
from rigbench.controller.store.migrations import MIGRATIONS
from tests.builders.store import job, record_device, result_row, store_result

TELEMETRY = [
    (1_000_000_000, "thermal:cpu", "temp_mc", 51500.0),
    (1_500_000_000, "rapl:total", "power_mw", 12500.0),
    (1_500_000_000, "rapl:package-0", "energy_uj", 3_000_000.0),
    (2_000_000_000, "cpufreq:cpu0", "clock_khz", 2_400_000.0),
    (2_000_000_000, "procfs:mem", "mem_used_kb", 2048.0),
    (2_000_000_000, "jetson:VDD_IN", "voltage_mv", 5000.0),
    (2_000_000_000, "jetson:VDD_IN", "current_ma", 1500.0),
    (2_000_000_000, "procfs:cpu", "util_pct", 87.5),
    (2_000_000_000, "rpi:soft-temp-limit", "throttled", 1.0),
    (2_000_000_000, "x86_throttle:package", "throttle_count", 3.0),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store.duckdb")
    s.begin_run("run-1", "run", "p", "{}", "d")
    s.record_jobs([job()])
    record_device(
        s, "run-1",
        "local",
        "x86",
        ["ci"],
        "local",
        {"hostname": "box", "cpu_model": "EPYC", "arch": "x86_64", "memory_bytes": 2 << 30},
        {"hourly_usd": 1.5},
    )
    row = {
        **result_row(),
        "p50_ns": 2_500_000.0,
        "p99_ns": 4_000_000.0,
        "peak_rss_bytes": 64 * 1048576,
        "avg_power_mw": 6500.0,
        "peak_temp_mc": 71250.0,
        "load_ns": 30_000_000,
        "measure_start_ns": 1_000_000_000,
        "measure_end_ns": 3_000_000_000,
        "warnings_json": json.dumps(["slow first inference"]),
        "throttle_reasons_json": json.dumps(["soft temp limit"]),
    }
    accuracy = [{"output": "*", "max_abs_err": 0.02, "within_tolerance": True}]
    store_result(s, row, np.array([2_000_000, 3_000_000], dtype=np.int64), TELEMETRY, [], accuracy)
    return s


def one(store: Store, sql: str) -> dict:
    (row,) = store.query(sql)
    return row


def test_results_view_converts_units_and_parses_json(store: Store):
    r = one(store, "SELECT * FROM results_h")
    assert r["p50_ms"] == 2.5 and r["p99_ms"] == 4.0 and r["load_ms"] == 30.0
    assert r["peak_rss_mb"] == 64.0
    assert r["avg_power_w"] == 6.5 and r["peak_temp_c"] == 71.25
    assert r["measured_s"] == 2.0
    assert r["max_abs_err"] == 0.02 and r["within_tolerance"] is True
    assert json.loads(r["warnings"]) == ["slow first inference"]
    assert r["plan_name"] == "p" and r["run_kind"] == "run"
    assert r["emulated"] is False  # NULL in the table: not emulated


def test_a_figure_not_measured_stays_null_in_the_view(store: Store):
    r = one(store, "SELECT idle_power_w, energy_per_inference_mj, p90_ms FROM results_h")
    assert r == {"idle_power_w": None, "energy_per_inference_mj": None, "p90_ms": None}


def test_latency_samples_view_is_in_ms_and_names_the_job(store: Store):
    rows = store.query(
        "SELECT device, variant, iteration, latency_ms FROM latency_samples_h ORDER BY iteration"
    )
    assert [(r["iteration"], r["latency_ms"]) for r in rows] == [(0, 2.0), (1, 3.0)]
    assert {(r["device"], r["variant"]) for r in rows} == {("local", "fp32")}


@pytest.mark.parametrize(
    "metric, quantity, value, unit",
    [
        ("temp_mc", "temp", 51.5, "°C"),
        ("power_mw", "power", 12.5, "W"),
        ("energy_uj", "energy", 3.0, "J"),
        ("clock_khz", "clock", 2400.0, "MHz"),
        ("mem_used_kb", "mem_used", 2.0, "MB"),
        ("voltage_mv", "voltage", 5.0, "V"),
        ("current_ma", "current", 1.5, "A"),
        ("util_pct", "util", 87.5, "%"),
        ("throttled", "throttled", 1.0, "flag"),
        ("throttle_count", "throttle_count", 3.0, "count"),
    ],
)
def test_telemetry_view_gives_every_metric_in_its_human_unit(store, metric, quantity, value, unit):
    r = one(store, f"SELECT quantity, value, unit, t_s FROM telemetry_h WHERE metric = '{metric}'")
    assert (r["quantity"], r["value"], r["unit"]) == (quantity, value, unit)
    assert r["t_s"] >= 0  # seconds from the measured window's start


def test_devices_view_reads_the_description(store: Store):
    d = one(store, "SELECT hostname, cpu_model, arch, memory_mb, cost FROM devices_h")
    assert (d["hostname"], d["cpu_model"], d["arch"], d["memory_mb"]) == (
        "box",
        "EPYC",
        "x86_64",
        2048.0,
    )
    assert json.loads(d["cost"]) == {"hourly_usd": 1.5}


def test_an_older_store_gets_the_views_when_opened(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for version, (name, sql) in enumerate(MIGRATIONS[:2], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    con.close()
    store = Store(path)
    names = store.query("SELECT name FROM schema_migrations ORDER BY version")
    assert [r["name"] for r in names] == [name for name, _ in MIGRATIONS]
    assert store.query("SELECT count(*) AS n FROM results_h") == [{"n": 0}]
