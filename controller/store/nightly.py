"""What the nightly reads: a series' nights (one result with the conditions it was measured
under) and their per-iteration latencies.

Rows come back as plain mappings; ``controller/baseline.py`` turns them into ``Night``s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np

from rigbench.controller.store.db import Store

_NIGHT_SQL = """
SELECT ru.run_id, ru.started_at, ru.plan_digest, ru.plan_json, r.job_id, j.job_key,
       r.device, r.model, r.variant, r.runtime_name, r.scenario, j.artifact_sha256, j.spec_json,
       d.fingerprint_json, d.description_json,
       ar.transform, ar.params_json, ar.source_sha256, ar.tool_versions_json,
       r.p50_ns, r.p90_ns, r.iterations, r.throttled, r.peak_rss_bytes,
       r.energy_per_inference_mj, a.max_abs_err, a.within_tolerance,
       coalesce(r.emulated, false) AS emulated
FROM results r
JOIN jobs j ON j.job_id = r.job_id
JOIN runs ru ON ru.run_id = r.run_id
LEFT JOIN devices d ON d.run_id = r.run_id AND d.device = r.device
LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*'
LEFT JOIN artifacts ar ON ar.sha256 = j.artifact_sha256
"""


def night_rows_of_run(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every stored result of one run, with its run, job, device and artifact columns."""
    return store.query(_NIGHT_SQL + "WHERE r.run_id = ?", [run_id])


def night_rows_before(
    store: Store, plan_name: str, before: datetime, exclude_run: str, max_runs: int
) -> list[dict[str, Any]]:
    """The results of the last ``max_runs`` finished nightly runs of a plan, newest first."""
    return store.query(
        _NIGHT_SQL
        + """
        WHERE r.run_id IN (
            SELECT run_id FROM runs
            WHERE kind = 'nightly' AND plan_name = ? AND status LIKE 'finished%'
              AND started_at <= ? AND run_id <> ?
            ORDER BY started_at DESC LIMIT ?)
        ORDER BY ru.started_at DESC, ru.run_id DESC
        """,
        [plan_name, before, exclude_run, max_runs],
    )


def load_samples(store: Store, job_ids: Iterable[str]) -> dict[str, np.ndarray]:
    """Per-iteration latencies (ns, in iteration order) of the given jobs."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    with store.connect(read_only=True) as con:
        cols = con.execute(
            "SELECT job_id, latency_ns FROM latency_samples "
            "WHERE job_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY job_id, iteration",
            [ids],
        ).fetchnumpy()
    job = np.asarray(cols["job_id"], dtype=object)
    lat = np.asarray(cols["latency_ns"], dtype=np.int64)
    if job.size == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, job[1:] != job[:-1]])
    ends = np.r_[starts[1:], job.size]
    return {str(job[s]): lat[s:e] for s, e in zip(starts, ends)}
