"""`rigbench export --parquet`: hive-partitioned Parquet that DuckDB reads back as written."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.store import Store
from rigbench.controller.store.export import TABLES as EXPORTED
from rigbench.controller.store.export import Mode, export_parquet
from rigbench.errors import StoreError
from tests.builders.nightly import History, Series

PI, ORIN = Series(device="pi5-01", iterations=200), Series(device="orin-01", iterations=300)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Three nights (2026-03-02..04) of two devices, with telemetry on one job."""
    h = History(Store(tmp_path / "store.duckdb"))
    for _ in range(3):
        run = h.night([PI, ORIN])
    with h.store.transaction() as con:
        job = con.execute(
            "SELECT job_id FROM results WHERE run_id = ? AND device = 'pi5-01'", [run]
        ).fetchone()[0]
        con.execute(
            "INSERT INTO telemetry_samples VALUES (?, 1, 'thermal:cpu', 'temp_mc', 51000), "
            "(?, 2, 'thermal:cpu', 'temp_mc', 52000)",
            [job, job],
        )
    return h.store


def read(folder: Path, table: str, sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        con.execute(
            f"CREATE VIEW t AS SELECT * FROM read_parquet('{folder / table}/**/*.parquet', "
            "hive_partitioning = true)"
        )
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_results_read_back_partitioned_by_date_and_device(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    rows = read(
        tmp_path / "lake",
        "results",
        "SELECT date, device, count(*) FROM t GROUP BY ALL ORDER BY ALL",
    )
    days = [date(2026, 3, d) for d in (2, 3, 4)]
    assert rows == [(d, dev, 1) for d in days for dev in ("orin-01", "pi5-01")]


def test_partition_folders_are_hive_style(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    assert (tmp_path / "lake" / "results" / "date=2026-03-02" / "device=pi5-01").is_dir()


def test_every_latency_sample_is_exported(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    rows = read(
        tmp_path / "lake",
        "latency_samples",
        "SELECT device, count(*) FROM t GROUP BY ALL ORDER BY ALL",
    )
    assert rows == [("orin-01", 900), ("pi5-01", 600)]


def test_latency_samples_join_back_to_results(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    con = duckdb.connect()
    lake = tmp_path / "lake"
    (n,) = con.execute(
        f"SELECT count(*) FROM read_parquet('{lake}/latency_samples/**/*.parquet', "
        f"hive_partitioning = true) s JOIN read_parquet('{lake}/results/**/*.parquet', "
        "hive_partitioning = true) r USING (job_id)"
    ).fetchone()
    assert n == 1500


def test_telemetry_is_exported_with_its_device(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    rows = read(
        tmp_path / "lake", "telemetry_samples", "SELECT device, metric, value FROM t ORDER BY t_ns"
    )
    assert rows == [("pi5-01", "temp_mc", 51000.0), ("pi5-01", "temp_mc", 52000.0)]


def test_since_exports_only_later_runs(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake", since=date(2026, 3, 4))
    assert read(tmp_path / "lake", "results", "SELECT DISTINCT date FROM t") == [
        (date(2026, 3, 4),)
    ]


def test_a_non_empty_folder_is_refused(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    with pytest.raises(StoreError, match="not empty"):
        export_parquet(store, tmp_path / "lake")


def test_overwrite_replaces_the_earlier_export(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake")
    export_parquet(store, tmp_path / "lake", since=date(2026, 3, 4), mode=Mode.overwrite)
    assert read(tmp_path / "lake", "results", "SELECT count(*) FROM t") == [(2,)]


def test_append_adds_a_later_day(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake", since=date(2026, 3, 4))
    History(store, start=datetime(2026, 3, 4, 2, 0)).night([PI])  # stored as 2026-03-05
    export_parquet(store, tmp_path / "lake", since=date(2026, 3, 5), mode=Mode.append)
    rows = read(
        tmp_path / "lake", "results", "SELECT date, count(*) FROM t GROUP BY ALL ORDER BY ALL"
    )
    assert rows == [(date(2026, 3, 4), 2), (date(2026, 3, 5), 1)]


TABLES = [t.name for t in EXPORTED]


def table_rows(lake: Path, table: str) -> list[tuple]:
    """Every row of one exported table (partition columns included), sorted."""
    files = sorted((lake / table).rglob("*.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    try:
        listed = ", ".join(f"'{f}'" for f in files)
        return sorted(
            con.execute(
                f"SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
                "union_by_name = true)"
            ).fetchall(),
            key=repr,
        )
    finally:
        con.close()


def assert_same_lake(lake: Path, fresh: Path) -> None:
    for table in TABLES:
        assert table_rows(lake, table) == table_rows(fresh, table), table


def test_any_number_of_appends_holds_each_row_once(store: Store, tmp_path: Path):
    lake = tmp_path / "lake"
    for since in (None, None, date(2026, 3, 3), date(2026, 3, 4), None):
        export_parquet(store, lake, since=since, mode=Mode.append)
    export_parquet(store, tmp_path / "fresh")
    assert_same_lake(lake, tmp_path / "fresh")
    assert len(read(lake, "results", "SELECT job_id FROM t")) == 6
    assert read(lake, "latency_samples", "SELECT count(*) FROM t") == [(1500,)]


def test_an_append_with_nothing_new_writes_nothing(store: Store, tmp_path: Path):
    export_parquet(store, tmp_path / "lake", mode=Mode.append)
    files = sorted((tmp_path / "lake").rglob("*.parquet"))
    again = export_parquet(store, tmp_path / "lake", since=date(2026, 3, 2), mode=Mode.append)
    assert set(again.rows.values()) == {0} and not again.replaced_runs
    assert sorted((tmp_path / "lake").rglob("*.parquet")) == files


def test_a_run_exported_while_running_is_replaced_once_it_ends(store: Store, tmp_path: Path):
    lake = tmp_path / "lake"
    h = History(store, start=datetime(2026, 3, 4, 2, 0))
    run = h.night([PI, ORIN], status="running")
    with store.transaction() as con:  # one job still pending when the first append runs
        con.execute(
            "UPDATE jobs SET status = 'running' WHERE run_id = ? AND device = 'pi5-01'", [run]
        )
    export_parquet(store, lake, mode=Mode.append)
    assert read(lake, "runs", f"SELECT status FROM t WHERE run_id = '{run}'") == [("running",)]
    with store.transaction() as con:
        con.execute("UPDATE jobs SET status = 'done' WHERE run_id = ?", [run])
    store.finish_run(run, "finished")
    summary = export_parquet(store, lake, since=date(2026, 3, 5), mode=Mode.append)
    assert summary.replaced_runs == (run,)
    assert summary.rows["results"] == 0 and summary.rows["jobs"] == 2
    export_parquet(store, tmp_path / "fresh")
    assert_same_lake(lake, tmp_path / "fresh")
    assert read(lake, "runs", f"SELECT status FROM t WHERE run_id = '{run}'") == [("finished",)]


def test_a_resumed_run_adds_its_new_results_and_replaces_its_jobs(store: Store, tmp_path):
    lake = tmp_path / "lake"
    h = History(store, start=datetime(2026, 3, 4, 2, 0))
    run = h.night([PI, ORIN], status="interrupted")
    with store.transaction() as con:  # the orin job had not finished when it was interrupted
        job = con.execute(
            "SELECT job_id FROM jobs WHERE run_id = ? AND device = 'orin-01'", [run]
        ).fetchone()[0]
        for table in ("latency_samples", "accuracy", "results"):
            con.execute(f"DELETE FROM {table} WHERE job_id = ?", [job])
        con.execute("UPDATE jobs SET status = 'pending' WHERE job_id = ?", [job])
    store.finish_run(run, "interrupted")
    export_parquet(store, lake, mode=Mode.append)
    History(store, start=datetime(2026, 3, 4, 2, 0), seed=1)._job(run, ORIN)  # resumed
    store.finish_run(run, "finished")
    summary = export_parquet(store, lake, mode=Mode.append)
    assert summary.replaced_runs == (run,) and summary.rows["results"] == 1
    export_parquet(store, tmp_path / "fresh")
    assert_same_lake(lake, tmp_path / "fresh")


def test_cli_append_twice_writes_each_row_once(store: Store, tmp_path: Path):
    args = ["export", "--parquet", str(tmp_path / "lake"), "--append", "--store", str(store.path)]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, [*args, "--since", "2026-03-02"])
    assert first.exit_code == second.exit_code == 0, second.output
    assert "results: 6 row(s)" in first.output and "results: 0 row(s)" in second.output
    assert read(tmp_path / "lake", "results", "SELECT count(*) FROM t") == [(6,)]


def test_cli_exports_and_counts_rows(store: Store, tmp_path: Path):
    result = CliRunner().invoke(
        app, ["export", "--parquet", str(tmp_path / "lake"), "--store", str(store.path)]
    )
    assert result.exit_code == 0, result.output
    assert "results: 6 row(s)" in result.output and "latency_samples: 1500 row(s)" in result.output


def test_cli_refuses_a_malformed_since(store: Store, tmp_path: Path):
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--parquet",
            str(tmp_path / "lake"),
            "--since",
            "March",
            "--store",
            str(store.path),
        ],
    )
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_cli_json_says_what_was_written(store: Store, tmp_path: Path):
    result = CliRunner().invoke(
        app,
        ["export", "--parquet", str(tmp_path / "lake"), "--format", "json"]
        + ["--store", str(store.path)],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["rows"]["results"] == 6 and out["out_dir"] == str(tmp_path / "lake")
    assert out["replaced_runs"] == []


def test_every_table_of_the_store_is_exported(tmp_path: Path):
    """A new table (the load scenarios' points and samples) is in the lake too."""
    store = Store(tmp_path / "store.duckdb")
    tables = store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_name <> 'schema_migrations'"
    )
    assert {r["table_name"] for r in tables} == set(TABLES)
