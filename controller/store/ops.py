"""Per-operator profiles and placement in the store: their own two tables, apart from results.

``op_profiles`` holds one row per profiled job (the unit it asked for, the pass's cost, the
placement summary); ``op_rows`` one row per operator. ``rigbench ops``, ``rank``, the report
and nightly read them through the functions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from rigbench.agent.placement import on_unit, placement
from rigbench.agent.profiling import OpProfile, OpRow
from rigbench.controller.store.db import Store


def insert_profiles(
    con: duckdb.DuckDBPyConnection, profiles: Sequence[tuple[str, OpProfile]]
) -> None:
    """Write (job_id, profile) pairs inside the caller's transaction."""
    heads, rows = [], []
    for job_id, prof in profiles:
        pl = placement(prof)
        total = sum(r.total_ns for r in prof.rows)
        heads.append(
            [
                job_id,
                prof.requested_unit,
                prof.iterations,
                prof.wall_ns,
                total,
                prof.note,
                pl.off_time_share,
                len(pl.off_unit) if pl.known else None,
            ]
        )
        for r in prof.rows:
            off = on_unit(prof.requested_unit, r.exec_unit)
            rows.append(
                [
                    job_id,
                    r.node,
                    r.op_type,
                    r.exec_unit,
                    r.kernel,
                    r.calls,
                    r.total_ns,
                    r.total_ns / r.calls if r.calls else None,
                    r.total_ns / total if total else None,
                    None if off is None else not off,
                ]
            )
    if heads:
        con.executemany("INSERT INTO op_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?)", heads)
    if rows:
        con.executemany("INSERT INTO op_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class StoredProfile:
    head: dict[str, Any]  # the op_profiles row with the job's device, model, variant, runtime
    profile: OpProfile

    @property
    def total_ms_per_inference(self) -> float:
        return sum(r.total_ns for r in self.profile.rows) / max(self.profile.iterations, 1) / 1e6


def profile_of(store: Store, job_id: str) -> StoredProfile | None:
    """A job's stored profile, or None when it was not profiled."""
    head = store.query(
        "SELECT p.*, j.device, j.model, j.variant, j.runtime_name, j.runtime "
        "FROM op_profiles p JOIN jobs j USING (job_id) WHERE p.job_id = ?",
        [job_id],
    )
    if not head:
        return None
    rows = store.query(
        "SELECT node, op_type, exec_unit, kernel, calls, total_ns FROM op_rows "
        "WHERE job_id = ? ORDER BY total_ns DESC, node",
        [job_id],
    )
    h = head[0]
    prof = OpProfile(
        requested_unit=h["requested_unit"] or "",
        iterations=int(h["iterations"] or 0),
        wall_ns=int(h["wall_ns"] or 0),
        rows=[OpRow(**r) for r in rows],
        note=h["note"] or "",
    )
    return StoredProfile(h, prof)


def placement_by_job(store: Store, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Placement summary of each profiled job among ``job_ids``."""
    if not job_ids:
        return {}
    marks = ", ".join("?" for _ in job_ids)
    rows = store.query(
        f"SELECT job_id, requested_unit, off_unit_time_share, off_unit_nodes, note "
        f"FROM op_profiles WHERE job_id IN ({marks})",
        list(job_ids),
    )
    return {r["job_id"]: r for r in rows}


def off_unit_ops(store: Store, job_id: str) -> set[tuple[str, str, str]]:
    """(node, op type, unit) of every operator a job ran off its requested unit."""
    rows = store.query(
        "SELECT node, op_type, exec_unit FROM op_rows WHERE job_id = ? AND off_unit",
        [job_id],
    )
    return {(r["node"], r["op_type"], r["exec_unit"]) for r in rows}
