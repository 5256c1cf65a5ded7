"""The nightly's verdicts in the store (``nightly_checks``) and the baselines people accepted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rigbench.context import RunContext
from rigbench.controller.store.db import Store, now

COLUMNS = (
    "run_id", "device", "series", "metric", "outcome", "tonight", "baseline", "ratio",
    "ratio_ci_low", "ratio_ci_high", "p_value", "threshold", "baseline_run_ids_json",
    "changes_json", "message", "created_at", "basis", "rounds", "round_spread", "history_ratio",
    "history_outcome", "pairs_run_id",
)  # fmt: skip


@dataclass(frozen=True)
class CheckRow:
    """One verdict of a nightly run, as stored."""

    device: str
    series: str
    metric: str
    outcome: str
    tonight: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    baseline_run_ids: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    basis: str | None = None  # latency: paired | A/A | history
    rounds: int | None = None
    round_spread: float | None = None
    history_ratio: float | None = None
    history_outcome: str | None = None
    pairs_run_id: str | None = None


def write_checks(store: Store, run_id: str, rows: Sequence[CheckRow]) -> None:
    """Replace every check of ``run_id`` with ``rows``, in one transaction."""
    ts = now()
    values = [
        [
            run_id, r.device, r.series, r.metric, r.outcome, r.tonight, r.baseline, r.ratio,
            r.ratio_ci_low, r.ratio_ci_high, r.p_value, r.threshold,
            json.dumps(r.baseline_run_ids), json.dumps(r.changes), r.message, ts, r.basis,
            r.rounds, r.round_spread, r.history_ratio, r.history_outcome, r.pairs_run_id,
        ]  # fmt: skip
        for r in rows
    ]
    with store.transaction() as con:
        con.execute("DELETE FROM nightly_checks WHERE run_id = ?", [run_id])
        if values:
            con.executemany(
                f"INSERT INTO nightly_checks ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                values,
            )


@dataclass(frozen=True)
class Accept:
    """A nightly run accepted as a series' new baseline, and why."""

    run_id: str
    series: str
    why: str
    accepted_at: datetime | None = None
    context: RunContext = field(default_factory=RunContext)


def record_accepts(store: Store, accepts: Sequence[Accept]) -> None:
    with store.transaction() as con:
        con.executemany(
            "INSERT INTO baseline_accepts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    a.run_id, a.series, a.why, a.accepted_at or now(), a.context.git_sha,
                    a.context.git_branch, a.context.pull_request, a.context.ci,
                ]  # fmt: skip
                for a in accepts
            ],
        )


def accepts_for(store: Store, series: Sequence[str]) -> dict[str, list[Accept]]:
    """Every accept of the given series, newest first."""
    if not series:
        return {}
    rows = store.query(
        "SELECT * FROM baseline_accepts WHERE series IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY accepted_at DESC",
        [list(series)],
    )
    out: dict[str, list[Accept]] = {}
    for r in rows:
        ctx = RunContext(r["git_sha"], r["git_branch"], r["pull_request"], r["ci"])
        out.setdefault(r["series"], []).append(
            Accept(r["run_id"], r["series"], r["why"], r["accepted_at"], ctx)
        )
    return out
