"""Open, migrate and write the DuckDB store.

DuckDB lets one process write a file at a time, so the controller opens the file only for the
moment of each transaction: ``rigbench results`` can read while a long run is going, and a
run is never half-written because each job's result lands in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from rigbench import __version__
from rigbench.controller.store.migrations import MIGRATIONS
from rigbench.errors import StoreError

LOCK_WAIT_S = 30.0


def now() -> datetime:
    """UTC wall time, naive: columns are TIMESTAMP in UTC (no pytz needed to read them)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class ArtifactRecord:
    sha256: str
    format: str
    size_bytes: int
    model: str | None = None
    variant: str | None = None
    source_sha256: str | None = None
    transform: str | None = None
    params: dict[str, Any] | None = None
    tool_versions: dict[str, str] | None = None
    compile_ms: float | None = None
    path: str | None = None


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    run_id: str
    job_key: str
    device: str
    model: str
    variant: str
    artifact_sha256: str
    runtime_name: str
    runtime: str
    scenario: str
    spec_json: str


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits while another rigbench process holds the file."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the store {self.path}: {e}") from e
                time.sleep(0.1)
            except duckdb.Error as e:
                raise StoreError(f"cannot open the store {self.path}: {e}") from e
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; returns the names applied."""
        applied: list[str] = []
        with self.connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, (name, sql) in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                con.begin()
                try:
                    con.execute(sql)
                    con.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, now()]
                    )
                except duckdb.Error as e:
                    con.rollback()
                    raise StoreError(f"migration {name} failed on {self.path}: {e}") from e
                con.commit()
                applied.append(name)
            newer = [v for v in done if v > len(MIGRATIONS)]
            if newer:
                raise StoreError(
                    f"{self.path} has schema version {max(newer)}, newer than this "
                    f"rigbench ({len(MIGRATIONS)}); upgrade rigbench"
                )
        return applied

    def schema_version(self) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    # --- writes -------------------------------------------------------------------------------
    def begin_run(
        self,
        run_id: str,
        kind: str,
        plan_name: str | None,
        plan_json: str | None,
        plan_digest: str | None,
    ) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, kind, plan_name, plan_json, plan_digest, status, "
                "started_at, controller_version) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                [run_id, kind, plan_name, plan_json, plan_digest, now(), __version__],
            )

    def finish_run(self, run_id: str, status: str, note: str | None = None) -> None:
        with self.transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, note = ? WHERE run_id = ?",
                [status, now(), note, run_id],
            )

    def record_device(
        self,
        run_id: str,
        device: str,
        device_class: str,
        tags: Sequence[str],
        transport: str,
        description: dict[str, Any] | None,
        cost: dict[str, Any] | None,
    ) -> None:
        fp = (description or {}).get("fingerprint")
        with self.transaction() as con:
            con.execute("DELETE FROM devices WHERE run_id = ? AND device = ?", [run_id, device])
            con.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    device,
                    device_class,
                    json.dumps(list(tags)),
                    transport,
                    json.dumps(description) if description is not None else None,
                    json.dumps(fp) if fp is not None else None,
                    bool((description or {}).get("simulated", False)),
                    json.dumps(cost) if cost is not None else None,
                ],
            )

    def record_artifact(self, a: ArtifactRecord) -> None:
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM artifacts WHERE sha256 = ?", [a.sha256]).fetchone():
                return
            con.execute(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    a.sha256,
                    a.format,
                    a.size_bytes,
                    a.model,
                    a.variant,
                    a.source_sha256,
                    a.transform,
                    json.dumps(a.params) if a.params is not None else None,
                    json.dumps(a.tool_versions) if a.tool_versions is not None else None,
                    a.compile_ms,
                    a.path,
                    now(),
                ],
            )

    def record_jobs(self, jobs: Sequence[JobRecord]) -> None:
        with self.transaction() as con:
            for j in jobs:
                if con.execute("SELECT 1 FROM jobs WHERE job_id = ?", [j.job_id]).fetchone():
                    continue
                con.execute(
                    "INSERT INTO jobs (job_id, run_id, job_key, device, model, variant, "
                    "artifact_sha256, runtime_name, runtime, scenario, spec_json, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    [
                        j.job_id,
                        j.run_id,
                        j.job_key,
                        j.device,
                        j.model,
                        j.variant,
                        j.artifact_sha256,
                        j.runtime_name,
                        j.runtime,
                        j.scenario,
                        j.spec_json,
                    ],
                )

    def mark_job(
        self,
        job_id: str,
        status: str,
        attempts: int | None = None,
        error_kind: str | None = None,
        error_message: str | None = None,
    ) -> None:
        with self.transaction() as con:
            ts_col = "started_at" if status == "running" else "finished_at"
            con.execute(
                f"UPDATE jobs SET status = ?, attempts = coalesce(?, attempts), error_kind = ?, "
                f"error_message = ?, {ts_col} = ? WHERE job_id = ?",
                [status, attempts, error_kind, error_message, now(), job_id],
            )

    def store_result(
        self,
        row: dict[str, Any],
        latencies_ns: np.ndarray,
        telemetry: Sequence[tuple[int, str, str, float]],
        gaps: Sequence[tuple[int, str, str]],
        accuracy: Sequence[dict[str, Any]],
    ) -> bool:
        """Store one job's result and samples in one transaction; False if already stored."""
        job_id = row["job_id"]
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM results WHERE job_id = ?", [job_id]).fetchone():
                return False
            cols = list(row)
            con.execute(
                f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
            n = len(latencies_ns)
            if n:
                con.register(
                    "_lat",
                    {
                        "job_id": np.full(n, job_id, dtype=object),
                        "iteration": np.arange(n, dtype=np.int32),
                        "latency_ns": np.asarray(latencies_ns, dtype=np.int64),
                    },
                )
                con.execute("INSERT INTO latency_samples SELECT * FROM _lat")
                con.unregister("_lat")
            if telemetry:
                t = np.asarray([s[0] for s in telemetry], dtype=np.int64)
                con.register(
                    "_tel",
                    {
                        "job_id": np.full(len(t), job_id, dtype=object),
                        "t_ns": t,
                        "sensor": np.asarray([s[1] for s in telemetry], dtype=object),
                        "metric": np.asarray([s[2] for s in telemetry], dtype=object),
                        "value": np.asarray([s[3] for s in telemetry], dtype=np.float64),
                    },
                )
                con.execute("INSERT INTO telemetry_samples SELECT * FROM _tel")
                con.unregister("_tel")
            for g in gaps:
                con.execute("INSERT INTO telemetry_gaps VALUES (?, ?, ?, ?)", [job_id, *g])
            for a in accuracy:
                con.execute(
                    "INSERT INTO accuracy VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        job_id,
                        a["output"],
                        a.get("max_abs_err"),
                        a.get("mean_abs_err"),
                        a.get("cosine_similarity"),
                        a.get("top1_agreement"),
                        a.get("top5_agreement"),
                        a.get("n_samples"),
                        a.get("within_tolerance"),
                        a.get("reasons"),
                    ],
                )
            con.execute(
                "UPDATE jobs SET status = 'done', finished_at = ? WHERE job_id = ?", [now(), job_id]
            )
        return True

    # --- reads --------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r)) for r in cur.fetchall()]
