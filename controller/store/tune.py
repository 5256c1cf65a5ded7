"""What ``rigbench tune`` reads back from the store: the trials an interrupted tune already ran.

A tune's trials are ordinary jobs of a run of kind ``tune``; resuming it replays each stored
trial into a new race instead of measuring it again (docs/tune.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigbench.controller.store.db import Store


@dataclass(frozen=True)
class StoredTrial:
    """One trial job of a tune run as stored: its result, or why it failed."""

    job_id: str
    status: str  # done | failed | pending | running
    cost_s: float | None  # from the job's start to its end, as the controller marked them
    latencies_ns: np.ndarray | None
    measured_s: float | None
    avg_power_w: float | None
    max_abs_err: float | None
    accuracy_unknown: str | None
    accuracy_asked: bool
    error_kind: str | None
    error_message: str | None


def stored_trials(store: Store, run_id: str) -> dict[str, StoredTrial]:
    """Every job of ``run_id`` that has a result or failed, by job id."""
    rows = store.query(
        "SELECT j.job_id, j.status, j.error_kind, j.error_message, "
        "  epoch_ms(j.finished_at) - epoch_ms(j.started_at) AS cost_ms, "
        "  r.job_id IS NOT NULL AS has_result, "
        "  (r.measure_end_ns - r.measure_start_ns) / 1e9 AS measured_s, "
        "  r.avg_power_mw / 1000.0 AS avg_power_w, "
        "  a.job_id IS NOT NULL AS accuracy_asked, a.max_abs_err, a.unknown_reason "
        "FROM jobs j LEFT JOIN results r USING (job_id) "
        "LEFT JOIN accuracy a ON a.job_id = j.job_id AND a.output = '*' "
        "WHERE j.run_id = ? AND (r.job_id IS NOT NULL OR j.status = 'failed')",
        [run_id],
    )
    with_result = [r["job_id"] for r in rows if r["has_result"]]
    samples: dict[str, np.ndarray] = {}
    if with_result:
        with store.connect(read_only=True) as con:
            got = con.execute(
                "SELECT job_id, list(latency_ns ORDER BY iteration) AS lat FROM latency_samples "
                "WHERE job_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY job_id",
                [with_result],
            ).fetchall()
        samples = {job_id: np.asarray(lat, dtype=np.float64) for job_id, lat in got}
    return {
        r["job_id"]: StoredTrial(
            job_id=r["job_id"],
            status=r["status"],
            cost_s=r["cost_ms"] / 1000.0 if r["cost_ms"] is not None else None,
            latencies_ns=samples.get(r["job_id"]),
            measured_s=r["measured_s"],
            avg_power_w=r["avg_power_w"],
            max_abs_err=r["max_abs_err"],
            accuracy_unknown=r["unknown_reason"],
            accuracy_asked=bool(r["accuracy_asked"]),
            error_kind=r["error_kind"],
            error_message=r["error_message"],
        )
        for r in rows
    }
