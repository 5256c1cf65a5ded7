"""Copy the store's history out as hive-partitioned Parquet for a data lake.

One DuckDB file serves one controller; a team with several controllers, or a warehouse, wants
the history as Parquet that DuckDB, Spark or Trino read together. Every per-run table is
written under ``DIR/<table>/date=YYYY-MM-DD/device=NAME/*.parquet``, where the date is the
day (UTC) the run started, so one night's rows stay together even past midnight. The small
dimension tables (runs, artifacts) are one folder of files each. Partition values are
URL-escaped by DuckDB (a compile failure's device ``*`` becomes ``device=%2A``) and read back
as written.

Appending is idempotent: every table has a key (a job's rows by ``job_id``, a run's by
``run_id``, an artifact by ``sha256``), and an append writes only rows whose key the lake does
not hold yet, so any number of appends, with or without ``--since``, holds each row once.
Results and samples never change once stored. The rows that do change while a run goes on
(the run itself, its jobs' statuses, its devices) are replaced when the run has changed since
it was exported: the lake's files holding them are rewritten without them (each file replaced
atomically), then the current rows are appended. ``runs`` is replaced last, so an append that
dies half-way is completed by the next one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from rigbench.controller.store.db import Store
from rigbench.errors import StoreError

_DAY = "CAST(ru.started_at AS DATE) AS date"
_SINCE = "(? IS NULL OR CAST(ru.started_at AS DATE) >= ?)"


@dataclass(frozen=True)
class Table:
    """One exported table: the rows, the key an append dedupes on, and whether rows change."""

    name: str
    select: str  # FROM ... (with the runs row as `ru`, except artifacts)
    columns: str  # the SELECT list: adds `date` (and `device` where the table has none)
    key: str  # qualified column naming what was exported, e.g. "r.job_id"
    partitioned: bool = True
    mutable: bool = False  # rows of a run change until it ends: replaced when the run changed


TABLES: tuple[Table, ...] = (
    Table(
        "results",
        "FROM results r JOIN runs ru ON ru.run_id = r.run_id",
        f"{_DAY}, r.*",
        "r.job_id",
    ),
    Table(
        "latency_samples",
        "FROM latency_samples s JOIN results r ON r.job_id = s.job_id "
        "JOIN runs ru ON ru.run_id = r.run_id",
        f"{_DAY}, r.device, r.run_id, s.*",
        "s.job_id",
    ),
    Table(
        "telemetry_samples",
        "FROM telemetry_samples t JOIN jobs j ON j.job_id = t.job_id "
        "JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.device, j.run_id, t.*",
        "t.job_id",
    ),
    Table(
        "telemetry_gaps",
        "FROM telemetry_gaps g JOIN jobs j ON j.job_id = g.job_id "
        "JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.device, j.run_id, g.*",
        "g.job_id",
    ),
    Table(
        "load_points",
        "FROM load_points p JOIN results r ON r.job_id = p.job_id "
        "JOIN runs ru ON ru.run_id = r.run_id",
        f"{_DAY}, r.device, r.run_id, p.*",
        "p.job_id",
    ),
    Table(
        "load_samples",
        "FROM load_samples s JOIN results r ON r.job_id = s.job_id "
        "JOIN runs ru ON ru.run_id = r.run_id",
        f"{_DAY}, r.device, r.run_id, s.*",
        "s.job_id",
    ),
    Table(
        "accuracy",
        "FROM accuracy a JOIN jobs j ON j.job_id = a.job_id JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.device, j.run_id, a.*",
        "a.job_id",
    ),
    Table(
        "op_profiles",
        "FROM op_profiles p JOIN jobs j ON j.job_id = p.job_id "
        "JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.device, j.run_id, p.*",
        "p.job_id",
    ),
    Table(
        "op_rows",
        "FROM op_rows o JOIN jobs j ON j.job_id = o.job_id JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.device, j.run_id, o.*",
        "o.job_id",
    ),
    Table(
        "nightly_checks",
        "FROM nightly_checks c JOIN runs ru ON ru.run_id = c.run_id",
        f"{_DAY}, c.*",
        "c.run_id",
    ),
    Table(
        "jobs",
        "FROM jobs j JOIN runs ru ON ru.run_id = j.run_id",
        f"{_DAY}, j.*",
        "j.run_id",
        mutable=True,
    ),
    Table(
        "devices",
        "FROM devices d JOIN runs ru ON ru.run_id = d.run_id",
        f"{_DAY}, d.*",
        "d.run_id",
        mutable=True,
    ),
    # Artifacts are content-addressed and shared by runs: --since takes those first stored
    # since then.
    Table("artifacts", "FROM artifacts ar", "ar.*", "ar.sha256", partitioned=False),
    # Each `baseline accept` writes its rows with one timestamp: a later accept appends.
    Table(
        "baseline_accepts",
        "FROM baseline_accepts ba JOIN runs ru ON ru.run_id = ba.run_id",
        "ba.*",
        "ba.accepted_at",
        partitioned=False,
    ),
    Table("runs", "FROM runs ru", "ru.*", "ru.run_id", partitioned=False, mutable=True),
)


class Mode(str, Enum):
    """What to do when the target folder already holds an export."""

    new = "new"  # refuse to write into a non-empty folder
    overwrite = "overwrite"  # replace each table's folder
    append = "append"  # add the rows the lake lacks; replace rows of runs that changed


@dataclass(frozen=True)
class ExportSummary:
    rows: dict[str, int]  # rows written per table
    out_dir: Path
    replaced_runs: tuple[str, ...] = ()  # runs whose changing rows were rewritten (append)


def export_parquet(
    store: Store, out_dir: Path, since: date | None = None, mode: Mode = Mode.new
) -> ExportSummary:
    """Write the tables; returns the number of rows written to each."""
    out_dir = out_dir.expanduser()
    if mode is Mode.new and out_dir.exists() and any(out_dir.iterdir()):
        raise StoreError(
            f"{out_dir} is not empty: choose an empty folder, or --overwrite to replace the "
            "export, or --append to add what it lacks"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot write the export to {out_dir}: {e}") from e
    rows: dict[str, int] = {}
    with store.connect(read_only=True) as con:
        changed: list[str] = []
        if mode is Mode.append:
            changed = _changed_runs(con, out_dir, since)
        for table in TABLES:
            target = out_dir / table.name
            if mode is Mode.overwrite and target.exists():
                shutil.rmtree(target)
            if table.mutable and changed:
                _drop_runs(con, target, changed)
            rows[table.name] = _write(con, table, target, since, append=mode is Mode.append)
    return ExportSummary(rows, out_dir, tuple(changed))


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.parquet")) if folder.is_dir() else []


def _read(files: Sequence[str]) -> str:
    """A read_parquet() over exactly these files (no glob: paths may hold glob characters)."""
    return "read_parquet([" + ", ".join(f"'{_quote(f)}'" for f in files) + "])"


def _changed_runs(con: Any, out_dir: Path, since: date | None) -> list[str]:
    """Runs in the lake whose row differs from the store's, or that are still going on."""
    files = _files(out_dir / "runs")
    if not files:
        return []
    found = con.execute(
        f"SELECT ru.run_id FROM runs ru JOIN {_read(files)} l ON l.run_id = ru.run_id "
        f"WHERE {_SINCE} AND (ru.status = 'running' "
        "OR ru.status IS DISTINCT FROM l.status OR ru.finished_at IS DISTINCT FROM l.finished_at "
        "OR ru.note IS DISTINCT FROM l.note) ORDER BY ru.run_id",
        [since, since],
    ).fetchall()
    return sorted({r[0] for r in found})


def _drop_runs(con: Any, folder: Path, run_ids: Sequence[str]) -> None:
    """Rewrite each file of ``folder`` that holds rows of these runs, without them."""
    for path in _files(folder):
        held = con.execute(
            f"SELECT count(*) FROM {_read([path])} WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(run_ids)],
        ).fetchone()
        if not held or not held[0]:
            continue
        tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        con.execute(
            f"COPY (SELECT * FROM {_read([path])} WHERE run_id NOT IN "
            f"(SELECT unnest(?::VARCHAR[]))) TO '{_quote(tmp)}' (FORMAT PARQUET)",
            [list(run_ids)],
        )
        left = con.execute(f"SELECT count(*) FROM {_read([tmp])}").fetchone()
        if left and left[0]:
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
            os.unlink(path)


def _write(con: Any, table: Table, target: Path, since: date | None, append: bool) -> int:
    where, params = _filter(table, since)
    if append:
        files = _files(target)
        if files:
            column = table.key.split(".")[1]
            where += f" AND {table.key} NOT IN (SELECT {column} FROM {_read(files)})"
    query = f"SELECT {table.columns} {table.select} WHERE {where}"
    count = con.execute(f"SELECT count(*) FROM ({query})", params).fetchone()
    n = int(count[0]) if count else 0
    if not n:
        return 0
    target.mkdir(parents=True, exist_ok=True)
    if table.partitioned:
        con.execute(
            f"COPY ({query}) TO '{_quote(target)}' (FORMAT PARQUET, "
            "PARTITION_BY (date, device), APPEND, FILENAME_PATTERN 'data_{uuid}')",
            params,
        )
    else:
        dest = target / f"{table.name}-{uuid.uuid4().hex[:12]}.parquet"
        con.execute(f"COPY ({query}) TO '{_quote(dest)}' (FORMAT PARQUET)", params)
    return n


def _filter(table: Table, since: date | None) -> tuple[str, list[Any]]:
    if table.name == "artifacts":
        return "(? IS NULL OR CAST(ar.created_at AS DATE) >= ?)", [since, since]
    return _SINCE, [since, since]


def _quote(path: Path | str) -> str:
    return str(path).replace("'", "''")
