"""The DuckDB store: recorded migrations, schema versions, one-transaction result writes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from rigbench.controller.store import Store
from rigbench.controller.store.db import ArtifactRecord, now
from rigbench.controller.store.migrations import MIGRATIONS
from rigbench.errors import StoreError
from tests.builders.store import LATENCIES, job, record_device, result_row, store_one

SAMPLE_TABLES = ("results", "latency_samples", "telemetry_samples", "telemetry_gaps", "accuracy")


def count(store: Store, table: str) -> int:
    return int(store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


@pytest.fixture
def run_store(store: Store) -> Store:
    store.begin_run("run-1", "run", "p", "{}", "d")
    store.record_jobs([job()])
    return store


# --- migrations -------------------------------------------------------------------------------


def test_new_store_records_every_migration(store: Store) -> None:
    rows = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [
        (i, name) for i, (name, _) in enumerate(MIGRATIONS, start=1)
    ]
    assert store.schema_version() == len(MIGRATIONS)


def test_reopening_applies_nothing_and_records_nothing_twice(store: Store) -> None:
    again = Store(store.path)
    assert again.migrate() == []
    assert count(again, "schema_migrations") == len(MIGRATIONS)


def test_reopening_keeps_the_data(run_store: Store) -> None:
    store_one(run_store)
    assert count(Store(run_store.path), "results") == 1


def test_store_written_by_a_newer_schema_is_refused(store: Store) -> None:
    newer = len(MIGRATIONS) + 1
    con = duckdb.connect(str(store.path))
    con.execute("INSERT INTO schema_migrations VALUES (?, '9999_future', ?)", [newer, now()])
    con.close()
    with pytest.raises(StoreError, match=rf"schema version {newer}, newer than this rigbench"):
        Store(store.path)


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.duckdb"
    bad.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(bad)


# --- store_result -----------------------------------------------------------------------------


def test_store_result_writes_everything_and_marks_the_job_done(run_store: Store) -> None:
    assert store_one(run_store) is True
    assert [count(run_store, t) for t in SAMPLE_TABLES] == [1, 4, 2, 1, 1]
    lat = run_store.query("SELECT iteration, latency_ns FROM latency_samples ORDER BY iteration")
    assert [r["latency_ns"] for r in lat] == LATENCIES.tolist()
    assert [r["iteration"] for r in lat] == [0, 1, 2, 3]
    assert run_store.query("SELECT status FROM jobs")[0]["status"] == "done"


def test_store_result_stores_a_result_once(run_store: Store) -> None:
    assert store_one(run_store) is True
    assert store_one(run_store) is False
    assert [count(run_store, t) for t in SAMPLE_TABLES] == [1, 4, 2, 1, 1]


def test_failure_inside_the_transaction_leaves_nothing_half_written(run_store: Store) -> None:
    # The accuracy rows are written last; one without its output name fails there.
    with pytest.raises(KeyError):
        store_one(run_store, accuracy=[{"max_abs_err": 0.5}])
    assert [count(run_store, t) for t in SAMPLE_TABLES] == [0, 0, 0, 0, 0]
    assert run_store.query("SELECT status FROM jobs")[0]["status"] == "pending"


def test_result_can_be_stored_after_a_failed_attempt(run_store: Store) -> None:
    with pytest.raises(KeyError):
        store_one(run_store, accuracy=[{}])
    assert store_one(run_store) is True
    assert count(run_store, "latency_samples") == 4


def test_database_error_in_the_result_row_stores_nothing(run_store: Store) -> None:
    row = result_row()
    del row["device"]  # NOT NULL
    with pytest.raises(duckdb.Error):
        store_one(run_store, row=row)
    assert [count(run_store, t) for t in SAMPLE_TABLES] == [0, 0, 0, 0, 0]


def test_result_without_samples_stores_only_the_row(run_store: Store) -> None:
    assert store_one(run_store, latencies_ns=np.array([], dtype=np.int64), telemetry=[], gaps=[])
    assert [count(run_store, t) for t in SAMPLE_TABLES] == [1, 0, 0, 0, 1]


def test_samples_of_two_jobs_stay_apart(run_store: Store) -> None:
    run_store.record_jobs([job("job-2")])
    store_one(run_store)
    store_one(run_store, row=result_row("job-2"), latencies_ns=np.array([7, 8], dtype=np.int64))
    n = run_store.query(
        "SELECT job_id, count(*) AS n FROM latency_samples GROUP BY job_id ORDER BY job_id"
    )
    assert [(r["job_id"], r["n"]) for r in n] == [("job-1", 4), ("job-2", 2)]


# --- runs, jobs, artifacts --------------------------------------------------------------------


def test_run_is_running_until_finished(store: Store) -> None:
    store.begin_run("run-1", "run", "p", "{}", "d")
    assert store.query("SELECT status FROM runs")[0]["status"] == "running"
    store.finish_run("run-1", "finished")
    row = store.query("SELECT status, finished_at FROM runs")[0]
    assert row["status"] == "finished" and row["finished_at"] is not None


def test_recording_the_same_job_twice_keeps_one(run_store: Store) -> None:
    run_store.record_jobs([job(), job()])
    assert count(run_store, "jobs") == 1


def test_recording_the_same_artifact_twice_keeps_the_first(store: Store) -> None:
    store.record_artifact(ArtifactRecord("b" * 64, "onnx", 10, model="first"))
    store.record_artifact(ArtifactRecord("b" * 64, "onnx", 10, model="second"))
    assert store.query("SELECT model FROM artifacts") == [{"model": "first"}]


def test_failed_job_keeps_its_error(run_store: Store) -> None:
    run_store.mark_job("job-1", "failed", attempts=2, error_kind="model", error_message="corrupt")
    row = run_store.query("SELECT status, attempts, error_kind, error_message FROM jobs")[0]
    assert row == {
        "status": "failed",
        "attempts": 2,
        "error_kind": "model",
        "error_message": "corrupt",
    }


def test_device_snapshot_is_replaced_per_run(store: Store) -> None:
    for cores in (4, 8):
        record_device(
            store, "run-1", "local", "local", ["ci"], "local", {"cpu_cores_logical": cores}, None
        )
    rows = store.query("SELECT description_json FROM devices")
    assert len(rows) == 1 and '"cpu_cores_logical": 8' in rows[0]["description_json"]
