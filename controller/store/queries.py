"""Read queries over the store, shared by the CLI and the reports."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import duckdb

from rigbench.controller.store.db import Store
from rigbench.errors import StoreError

RESULT_COLUMNS = """
    r.run_id, r.job_id, r.device, r.model, r.variant, r.runtime, r.runtime_name,
    r.providers_used, r.scenario, r.iterations,
    r.p50_ns / 1e6 AS p50_ms, r.p90_ns / 1e6 AS p90_ms, r.p99_ns / 1e6 AS p99_ms,
    r.mean_ns / 1e6 AS mean_ms, r.p50_ci_low_ns / 1e6 AS p50_ci_low_ms,
    r.p50_ci_high_ns / 1e6 AS p50_ci_high_ms, r.throughput_ips,
    r.load_ns / 1e6 AS load_ms, r.compile_ns / 1e6 AS compile_ms,
    r.first_inference_ns / 1e6 AS first_inference_ms,
    r.peak_rss_bytes / 1048576.0 AS peak_rss_mb,
    r.avg_power_mw / 1000.0 AS avg_power_w, r.energy_per_inference_mj,
    r.throttled, r.simulated, coalesce(r.emulated, false) AS emulated,
    a.max_abs_err, a.mean_abs_err, a.cosine_similarity, a.top1_agreement, a.within_tolerance,
    a.max_rel_err, a.snr_db, a.top5_agreement, a.kind_source AS topk_kind_source,
    a.unknown_reason AS accuracy_unknown, a.reasons AS accuracy_reasons,
    a.task_top1, a.task_top5, a.task_metric, a.task_metric_name, a.ref_task_top1,
    a.ref_task_metric
"""


def latest_run_id(store: Store) -> str | None:
    rows = store.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")
    return rows[0]["run_id"] if rows else None


def run_info(store: Store, run_id: str) -> dict[str, Any]:
    rows = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        known = [
            r["run_id"]
            for r in store.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 5")
        ]
        raise StoreError(
            f"no run {run_id!r} in the store; recent runs: {', '.join(known) or '(none)'}"
        )
    return rows[0]


def results(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query(
        f"SELECT {RESULT_COLUMNS} FROM results r "
        "LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*' "
        "WHERE r.run_id = ? ORDER BY r.device, r.model, r.variant, r.runtime_name, r.scenario",
        [run_id],
    )


def failed_jobs(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT device, model, variant, runtime_name, scenario, error_kind, error_message "
        "FROM jobs WHERE run_id = ? AND status = 'failed' ORDER BY device, model, variant",
        [run_id],
    )


def skipped_jobs(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Variants not measured on purpose (e.g. the quantizer changed nothing), with why."""
    return store.query(
        "SELECT model, variant, error_kind, error_message FROM jobs "
        "WHERE run_id = ? AND status = 'skipped' ORDER BY model, variant",
        [run_id],
    )


def runs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    return store.query(
        "SELECT run_id, kind, plan_name, status, started_at, finished_at, "
        "(SELECT count(*) FROM results r WHERE r.run_id = runs.run_id) AS results "
        "FROM runs ORDER BY started_at DESC LIMIT ?",
        [limit],
    )


def timeline(store: Store, job_id: str, bucket_s: float = 1.0) -> list[dict[str, Any]]:
    """Latency, temperature, clock and power of one job per time bucket, on one clock.

    Iteration times are the measured window's start plus the running sum of latencies (the
    loop's own overhead between iterations, well under a microsecond, is not included).
    """
    info = store.query("SELECT measure_start_ns FROM results WHERE job_id = ?", [job_id])
    if not info:
        raise StoreError(
            f"no result for job {job_id!r}; `rigbench results --format json` lists job ids"
        )
    bucket_ns = int(bucket_s * 1e9)
    return store.query(
        """
        WITH lat AS (
            SELECT (sum(latency_ns) OVER (ORDER BY iteration) - latency_ns) // $3 AS bucket,
                   latency_ns
            FROM latency_samples WHERE job_id = $1
        ),
        l AS (
            SELECT bucket, count(*) AS iterations,
                   quantile_cont(latency_ns, 0.5) / 1e6 AS p50_ms,
                   quantile_cont(latency_ns, 0.99) / 1e6 AS p99_ms
            FROM lat GROUP BY bucket
        ),
        t AS (
            SELECT (t_ns - $2) // $3 AS bucket,
                   max(value) FILTER (WHERE metric = 'temp_mc') / 1000 AS temp_c,
                   min(value) FILTER (WHERE metric = 'clock_khz') / 1000 AS clock_mhz,
                   avg(value) FILTER (WHERE metric = 'power_mw' AND sensor LIKE '%:total')
                       / 1000 AS power_w,
                   max(value) FILTER (WHERE metric = 'throttled') AS throttled,
                   avg(value) FILTER (WHERE metric = 'util_pct' AND sensor = 'procfs:cpu')
                       AS cpu_util_pct
            FROM telemetry_samples WHERE job_id = $1 AND t_ns >= $2 GROUP BY bucket
        )
        SELECT bucket * $4 AS t_s, l.iterations, l.p50_ms, l.p99_ms, t.temp_c, t.clock_mhz,
               t.power_w, t.throttled > 0.5 AS throttled, t.cpu_util_pct
        FROM l FULL JOIN t USING (bucket) ORDER BY bucket
        """,
        [job_id, info[0]["measure_start_ns"], bucket_ns, bucket_s],
    )


def user_query(store: Store, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a user's SQL on a read-only connection: column names and rows.

    Goes through the store's hand-off like every reader, so a run in progress lets it in; a
    statement that would write is refused by DuckDB itself.
    """
    try:
        with store.connect(read_only=True) as con:
            cur = con.execute(sql)
            if cur.description is None:
                return [], []
            names = [d[0] for d in cur.description]
            parse = [i for i, d in enumerate(cur.description) if str(d[1]) == "JSON"]
            rows = cur.fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"sql: {first}") from None
    if parse:  # JSON columns (the views' parsed ones) come back as their values, not text
        rows = [
            tuple(
                json.loads(v) if i in parse and isinstance(v, str) else v for i, v in enumerate(r)
            )
            for r in rows
        ]
    return names, rows


def snapshot(store: Store, dest: Path) -> int:
    """Copy the whole store into ``dest`` (a new DuckDB file for notebooks); returns its size.

    The copy is made under a read lock, through the hand-off, into a temporary file renamed
    into place: a notebook reading an older snapshot keeps its file.
    """
    dest = dest.expanduser()
    if dest.resolve() == store.path.resolve():
        raise StoreError(f"{dest} is the store itself: give another file")
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    target = str(tmp).replace("'", "''")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with store.connect(read_only=True) as con:
            row = con.execute("SELECT current_database()").fetchone()
            source = str(row[0]).replace('"', '""') if row else "main"
            con.execute(f"ATTACH '{target}' AS rigbench_snapshot (READ_WRITE)")
            try:
                con.execute(f'COPY FROM DATABASE "{source}" TO rigbench_snapshot')
            finally:
                con.execute("DETACH rigbench_snapshot")
        os.replace(tmp, dest)
    except (duckdb.Error, OSError) as e:
        raise StoreError(f"cannot write a snapshot to {dest}: {e}") from e
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return dest.stat().st_size
