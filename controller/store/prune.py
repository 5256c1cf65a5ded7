"""Delete old runs with everything measured in them, and give the space back.

A store only grows: every iteration of every job is a row. ``rigbench prune`` deletes runs
older than a number of days and beyond a number of most recent runs, except runs something
still needs:

* runs still going on;
* the nightly history: for each nightly plan, the newest finished nightly runs that a nightly
  compares with and learns its noise floor from (``nightly_history`` runs);
* every run a kept nightly named as its baseline (a pinned run, the canary runs), as recorded
  in ``nightly_checks``.

DuckDB does not shrink a file when rows are deleted (their blocks are reused by later writes),
so after the delete the store is copied into a fresh file, which is renamed over it while the
old one is still held: nobody can write to the old file meanwhile, and whoever opens the path
next opens the compact one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from rigbench.controller.store.db import Store, now
from rigbench.errors import StoreError

# Tables holding a run's rows, deleted children first.
_BY_JOB = (
    "latency_samples",
    "telemetry_samples",
    "telemetry_gaps",
    "accuracy",
    "op_rows",
    "op_profiles",
    "load_samples",
    "load_points",
    "results",
)
_BY_RUN = ("jobs", "devices", "nightly_checks", "baseline_accepts")


@dataclass(frozen=True)
class PruneRun:
    run_id: str
    kind: str
    plan_name: str | None
    status: str
    started_at: datetime
    results: int
    samples: int


@dataclass
class PrunePlan:
    """Which runs go, and which old enough to go are kept, and why."""

    delete: list[PruneRun] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # reason -> run ids

    @property
    def samples(self) -> int:
        return sum(r.samples for r in self.delete)


@dataclass(frozen=True)
class PruneResult:
    deleted_runs: int
    rows: dict[str, int]  # rows deleted per table
    bytes_before: int
    bytes_after: int


def plan_prune(
    store: Store,
    keep_days: float | None,
    keep_runs: int | None,
    nightly_history: int,
    at: datetime | None = None,
) -> PrunePlan:
    """The runs older than ``keep_days`` and not among the ``keep_runs`` newest, less those
    still needed (see the module's docstring).
    """
    if keep_days is None and keep_runs is None:
        raise StoreError("say what to keep: --keep-days N, --keep-runs N, or both")
    cutoff = (at or now()) - timedelta(days=keep_days) if keep_days is not None else None
    with store.connect(read_only=True) as con:
        rows = _runs(con)
        needed_history = {
            r[0]
            for r in con.execute(
                "SELECT run_id FROM (SELECT run_id, row_number() OVER (PARTITION BY plan_name "
                "ORDER BY started_at DESC) AS k FROM runs WHERE kind = 'nightly' "
                "AND status LIKE 'finished%') WHERE k <= ?",
                [nightly_history],
            ).fetchall()
        }
        named = con.execute(
            "SELECT run_id, baseline_run_ids_json FROM nightly_checks "
            "WHERE baseline_run_ids_json IS NOT NULL AND baseline_run_ids_json <> '[]'"
        ).fetchall()
    newest = {r.run_id for r in rows[:keep_runs]} if keep_runs is not None else set()
    old = [r for r in rows if r.run_id not in newest and (cutoff is None or r.started_at < cutoff)]
    plan = PrunePlan()
    reasons: dict[str, str] = {}
    for r in old:
        if r.status == "running":
            reasons[r.run_id] = "still running"
        elif r.run_id in needed_history:
            reasons[r.run_id] = f"in a nightly plan's last {nightly_history} nights"
    kept_ids = {r.run_id for r in rows} - {r.run_id for r in old} | set(reasons)
    for run_id, names in named:  # what kept nightlies were compared with (pins, canaries)
        if run_id in kept_ids:
            for b in _ids(names):
                reasons.setdefault(b, "a kept nightly's baseline or canary")
    for r in old:
        if r.run_id in reasons:
            plan.kept.setdefault(reasons[r.run_id], []).append(r.run_id)
        else:
            plan.delete.append(r)
    return plan


def _ids(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _runs(con: Any) -> list[PruneRun]:
    """Every run, newest first, with its result and sample counts."""
    found = con.execute(
        """
        SELECT ru.run_id, ru.kind, ru.plan_name, ru.status, ru.started_at,
               count(DISTINCT r.job_id) AS results, coalesce(sum(s.n), 0) AS samples
        FROM runs ru
        LEFT JOIN results r ON r.run_id = ru.run_id
        LEFT JOIN (SELECT job_id, count(*) AS n FROM latency_samples GROUP BY job_id) s
            ON s.job_id = r.job_id
        GROUP BY ALL ORDER BY ru.started_at DESC, ru.run_id DESC
        """
    ).fetchall()
    return [
        PruneRun(row[0], row[1], row[2], row[3], row[4], int(row[5]), int(row[6])) for row in found
    ]


def prune(store: Store, runs: Sequence[str], compact: bool = True) -> PruneResult:
    """Delete these runs and everything measured in them; then compact the file."""
    before = store.path.stat().st_size
    rows: dict[str, int] = {}
    with store.connect() as con:
        if runs:
            con.begin()
            try:
                ids = list(runs)
                jobs = "job_id IN (SELECT job_id FROM jobs WHERE run_id IN " \
                    "(SELECT unnest($1::VARCHAR[])))"  # fmt: skip
                for table in _BY_JOB:
                    rows[table] = _count(con.execute(f"DELETE FROM {table} WHERE {jobs}", [ids]))
                for table in (*_BY_RUN, "runs"):
                    rows[table] = _count(
                        con.execute(
                            f"DELETE FROM {table} WHERE run_id IN (SELECT unnest($1::VARCHAR[]))",
                            [ids],
                        )
                    )
                rows["artifacts"] = _count(
                    con.execute(
                        # A companion (an IR's .bin) goes with the artifact it belongs to.
                        "DELETE FROM artifacts WHERE sha256 NOT IN "
                        "(SELECT artifact_sha256 FROM jobs) AND NOT coalesce(transform = "
                        "'companion' AND source_sha256 IN (SELECT artifact_sha256 FROM jobs), "
                        "false)"
                    )
                )
            except BaseException:
                con.rollback()
                raise
            con.commit()
        con.execute("CHECKPOINT")
        if compact and runs:
            _compact(con, store.path)
    return PruneResult(len(runs), rows, before, store.path.stat().st_size)


def _count(cur: Any) -> int:
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _compact(con: Any, path: Path) -> None:
    """Copy the store into a fresh file and rename it over the store, while ``con`` holds it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.compact")
    target = str(tmp).replace("'", "''")
    try:
        (name,) = con.execute("SELECT current_database()").fetchone()
        con.execute(f"ATTACH '{target}' AS rigbench_compact")
        try:
            con.execute(f'COPY FROM DATABASE "{name}" TO rigbench_compact')
        finally:
            con.execute("DETACH rigbench_compact")
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except (duckdb.Error, OSError) as e:
        raise StoreError(
            f"deleted, but could not compact {path} (the space is reused by later runs): {e}"
        ) from e
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
