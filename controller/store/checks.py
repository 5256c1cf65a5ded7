"""The nightly's verdicts in the store: one ``nightly_checks`` row per device x series x metric."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
