"""Read queries over the store, shared by the CLI and the reports."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Sequence
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
    r.p50_ci_high_ns / 1e6 AS p50_ci_high_ms, r.p50_ci_method, r.throughput_ips,
    r.load_ns / 1e6 AS load_ms, r.compile_ns / 1e6 AS compile_ms,
    r.first_inference_ns / 1e6 AS first_inference_ms,
    r.peak_rss_bytes / 1048576.0 AS peak_rss_mb,
    r.avg_power_mw / 1000.0 AS avg_power_w, r.energy_per_inference_mj,
    r.throttled, r.simulated, coalesce(r.emulated, false) AS emulated,
    r.load_avg_1m_end, r.other_cpu_share, r.steal_share,
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


def load_headlines(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The headline point of every offline and server job of a run, with how many points ran."""
    return store.query(
        """
        SELECT r.device, r.model, r.variant, r.runtime_name, r.scenario, p.kind,
            p.concurrency, p.batch_size, p.threads, p.target_qps, p.offered_qps,
            p.samples_per_s, p.percentile, p.percentile_ns / 1e6 AS percentile_ms,
            p.latency_bound_ms, p.bound_held, p.cpu_util, p.search,
            (SELECT count(*) FROM load_points q WHERE q.job_id = p.job_id) AS points
        FROM load_points p JOIN results r ON r.job_id = p.job_id
        WHERE r.run_id = ? AND p.headline
        ORDER BY r.device, r.model, r.variant, r.runtime_name, r.scenario
        """,
        [run_id],
    )


def job_attempts(store: Store, job_ids: list[str]) -> dict[str, tuple[int, bool]]:
    """(attempts so far, has a result) of each job: what a run or a resume starts from."""
    rows = store.query(
        "SELECT j.job_id, j.attempts, r.job_id IS NOT NULL AS stored FROM jobs j "
        "LEFT JOIN results r USING (job_id) WHERE j.job_id IN (SELECT unnest(?::VARCHAR[]))",
        [job_ids],
    )
    return {r["job_id"]: (int(r["attempts"] or 0), bool(r["stored"])) for r in rows}


def runs(
    store: Store, limit: int = 20, bad_device_states: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Recent runs with their job counts and what the run concluded.

    ``outcome`` is the status, except for a nightly whose verdict is stored: ``farm failed``
    (a device in one of ``bad_device_states``, or a comparison that could not be made),
    ``regression``, or ``no regression``, the same rules as the nightly's exit code.
    """
    return store.query(
        """
        WITH verdict AS (
            SELECT run_id,
                   bool_or((metric = 'device' AND outcome IN (SELECT unnest($2::VARCHAR[])))
                           OR outcome IN ('error', 'not enough evidence')) AS farm_failed,
                   bool_or(outcome IN ('regression', 'failed')) AS regressed
            FROM nightly_checks GROUP BY run_id
        ),
        counts AS (
            SELECT run_id, count(*) AS jobs,
                   count(*) FILTER (WHERE status = 'failed') AS failed
            FROM jobs GROUP BY run_id
        )
        SELECT ru.run_id, ru.kind, ru.plan_name, ru.status, ru.started_at, ru.finished_at,
               coalesce(c.jobs, 0) AS jobs, coalesce(c.failed, 0) AS failed,
               (SELECT count(*) FROM results r WHERE r.run_id = ru.run_id) AS results,
               CASE WHEN ru.status = 'running' OR v.run_id IS NULL THEN ru.status
                    WHEN v.farm_failed THEN 'farm failed'
                    WHEN v.regressed THEN 'regression'
                    ELSE 'no regression' END AS outcome,
               ru.note, ru.git_sha, ru.git_branch, ru.pull_request, ru.ci
        FROM runs ru
        LEFT JOIN verdict v ON v.run_id = ru.run_id
        LEFT JOIN counts c ON c.run_id = ru.run_id
        ORDER BY ru.started_at DESC LIMIT $1
        """,
        [limit, list(bad_device_states)],
    )


def _resolve(store: Store, what: str, sql: str, text: str, hint: str) -> str:
    rows = [r["id"] for r in store.query(sql, [text])]
    if text in rows:
        return text
    if len(rows) == 1:
        return str(rows[0])
    if not rows:
        raise StoreError(f"no {what} matches {text!r}; {hint}")
    shown = ", ".join(rows[:5]) + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")
    raise StoreError(f"{what} {text!r} is ambiguous: it matches {shown}; give more of it")


# A job id is `<run id>.<hash of its job key>`, and a run id `<UTC time>-<4 hex>`; the short
# form `<4 hex>.<hash>` is what `rigbench results` shows. The hash alone names the same series
# in every run, so it is unique only while one run has that job.
_SHORT_JOB = "regexp_extract(job_id, '-([0-9a-f]+)[.]', 1) || '.' || split_part(job_id, '.', 2)"


def short_job_id(job_id: str) -> str:
    """``20261124T010302Z-a823.5f0c1d2e3a4b`` -> ``a823.5f0c1d2e`` (see ``resolve_job``)."""
    run, _, key = job_id.rpartition(".")
    return f"{run.rpartition('-')[2]}.{key[:8]}"


def resolve_job(store: Store, text: str) -> str:
    """The job a full id, its short form, or a unique prefix of either names."""
    return _resolve(
        store,
        "job",
        "SELECT job_id AS id FROM jobs WHERE starts_with(job_id, $1) "
        f"OR starts_with({_SHORT_JOB}, $1) OR starts_with(split_part(job_id, '.', 2), $1) "
        "ORDER BY job_id DESC LIMIT 6",
        text.strip(),
        "`rigbench results` shows each result's job",
    )


def resolve_run(store: Store, text: str) -> str:
    """The run a full id or a unique prefix of one names."""
    if not store.query("SELECT 1 FROM runs WHERE starts_with(run_id, ?) LIMIT 1", [text.strip()]):
        run_info(store, text)  # raises, naming the recent runs
    return _resolve(
        store,
        "run",
        "SELECT run_id AS id FROM runs WHERE starts_with(run_id, $1) ORDER BY run_id LIMIT 6",
        text.strip(),
        "`rigbench runs` lists them",
    )


def nightly_marks(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str, str], str]:
    """What each nightly concluded per (run, series, metric): regression, improvement ..."""
    if not run_ids:
        return {}
    rows = store.query(
        "SELECT run_id, series, metric, outcome FROM nightly_checks "
        "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(run_ids)],
    )
    return {(r["run_id"], r["series"], r["metric"]): r["outcome"] for r in rows}


def soak_results(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The soak jobs of a run, with their per-window figures and telemetry summary."""
    return store.query(
        "SELECT device, model, variant, runtime_name, soak_windows_json, telemetry_json "
        "FROM results WHERE run_id = ? AND soak_windows_json IS NOT NULL",
        [run_id],
    )


def timeline(store: Store, job_id: str, bucket_s: float = 1.0) -> list[dict[str, Any]]:
    """Latency, temperature, clock and power of one job per time bucket, on one clock.

    Iteration times are the measured window's start plus the running sum of latencies (the
    loop's own overhead between iterations, well under a microsecond, is not included).
    """
    info = store.query("SELECT measure_start_ns FROM results WHERE job_id = ?", [job_id])
    if not info:
        raise StoreError(
            f"no result for job {job_id!r}; `rigbench results` shows each result's job"
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
