"""Copy the store's history out as hive-partitioned Parquet for a data lake.

One DuckDB file serves one controller; a team with several controllers, or a warehouse, wants
the history as Parquet that DuckDB, Spark or Trino read together. Every per-run table is
written under ``DIR/<table>/date=YYYY-MM-DD/device=NAME/*.parquet``, where the date is the
day (UTC) the run started, so one night's rows stay together even past midnight. The small
dimension tables (runs, artifacts) are one file each. Partition values are URL-escaped by
DuckDB (a compile failure's device ``*`` becomes ``device=%2A``) and read back as written.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path

from rigbench.controller.store.db import Store
from rigbench.errors import StoreError

_DAY = "CAST(ru.started_at AS DATE) AS date"
_SINCE = "WHERE ? IS NULL OR CAST(ru.started_at AS DATE) >= ?"

# Per-run tables: the query adds `date` (and `device` where the table has none).
PARTITIONED: dict[str, str] = {
    "results": f"SELECT {_DAY}, r.* FROM results r JOIN runs ru ON ru.run_id = r.run_id",
    "latency_samples": (
        f"SELECT {_DAY}, r.device, r.run_id, s.* FROM latency_samples s "
        "JOIN results r ON r.job_id = s.job_id JOIN runs ru ON ru.run_id = r.run_id"
    ),
    "telemetry_samples": (
        f"SELECT {_DAY}, j.device, j.run_id, t.* FROM telemetry_samples t "
        "JOIN jobs j ON j.job_id = t.job_id JOIN runs ru ON ru.run_id = j.run_id"
    ),
    "telemetry_gaps": (
        f"SELECT {_DAY}, j.device, j.run_id, g.* FROM telemetry_gaps g "
        "JOIN jobs j ON j.job_id = g.job_id JOIN runs ru ON ru.run_id = j.run_id"
    ),
    "accuracy": (
        f"SELECT {_DAY}, j.device, j.run_id, a.* FROM accuracy a "
        "JOIN jobs j ON j.job_id = a.job_id JOIN runs ru ON ru.run_id = j.run_id"
    ),
    "jobs": f"SELECT {_DAY}, j.* FROM jobs j JOIN runs ru ON ru.run_id = j.run_id",
    "devices": f"SELECT {_DAY}, d.* FROM devices d JOIN runs ru ON ru.run_id = d.run_id",
    "nightly_checks": (
        f"SELECT {_DAY}, c.* FROM nightly_checks c JOIN runs ru ON ru.run_id = c.run_id"
    ),
}
SINGLE: dict[str, str] = {
    "runs": "SELECT ru.* FROM runs ru",
    # Artifacts are content-addressed and shared by runs: --since takes those first stored
    # since then, so appending each night adds every artifact once.
    "artifacts": ("SELECT * FROM artifacts WHERE ? IS NULL OR CAST(created_at AS DATE) >= ?"),
}


class Mode(str, Enum):
    """What to do when the target folder already holds an export."""

    new = "new"  # refuse to write into a non-empty folder
    overwrite = "overwrite"  # replace each table's folder
    append = "append"  # add files with unique names (pair with --since to avoid duplicates)


@dataclass(frozen=True)
class ExportSummary:
    rows: dict[str, int]  # rows written per table
    out_dir: Path


def export_parquet(
    store: Store, out_dir: Path, since: date | None = None, mode: Mode = Mode.new
) -> ExportSummary:
    """Write the tables; returns the row count of each."""
    out_dir = out_dir.expanduser()
    if mode is Mode.new and out_dir.exists() and any(out_dir.iterdir()):
        raise StoreError(
            f"{out_dir} is not empty: choose an empty folder, or --overwrite to replace the "
            "export, or --append (with --since) to add to it"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    opts = ", APPEND, FILENAME_PATTERN 'data_{uuid}'" if mode is Mode.append else ""
    with store.connect(read_only=True) as con:
        for table, sql in {**PARTITIONED, **SINGLE}.items():
            query = sql if table == "artifacts" else f"{sql} {_SINCE}"
            params = [since, since]
            target = out_dir / table
            if mode is Mode.overwrite and target.exists():
                shutil.rmtree(target)
            count = con.execute(f"SELECT count(*) FROM ({query})", params).fetchone()
            rows[table] = int(count[0]) if count else 0
            if not rows[table]:
                continue
            if table in SINGLE:
                target.mkdir(parents=True, exist_ok=True)
                name = f"{table}-{uuid.uuid4().hex[:12]}" if mode is Mode.append else table
                dest = target / f"{name}.parquet"
                con.execute(f"COPY ({query}) TO '{_quote(dest)}' (FORMAT PARQUET)", params)
            else:
                con.execute(
                    f"COPY ({query}) TO '{_quote(target)}' "
                    f"(FORMAT PARQUET, PARTITION_BY (date, device){opts})",
                    params,
                )
    return ExportSummary(rows, out_dir)


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
