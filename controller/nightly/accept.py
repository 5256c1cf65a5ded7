"""``rigbench baseline accept``: an expected change becomes a series' new baseline, with why.

A regression stays reported night after night (its pair keeps the last good night's artifact
as the baseline) until it is fixed or someone accepts it. Accepting a nightly run (every
series it measured) or one series (its newest nightly night) records the reason and the code
context; from the next night on, that series' baseline starts at the accepted night: pairs
use its artifact, and the history behind the other metrics begins there.
"""

from __future__ import annotations

from rigbench.context import current
from rigbench.controller.store.checks import Accept, record_accepts
from rigbench.controller.store.db import Store
from rigbench.errors import PlanError, StoreError


def _matches(job_key: str, wanted: str) -> bool:
    have, want = job_key.split("/"), wanted.split("/")
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def accept(store: Store, target: str, why: str, plan: str | None = None) -> list[Accept]:
    """Record ``target`` (a nightly run id, or a series) as the new baseline; returns what."""
    if not why.strip():
        raise PlanError("--why must say why this change is expected")
    ctx = current()
    run = store.query("SELECT run_id, kind FROM runs WHERE run_id = ?", [target])
    if run:
        if run[0]["kind"] != "nightly":
            raise StoreError(f"run {target} is a {run[0]['kind']} run, not a nightly run")
        stored = store.query(
            "SELECT j.job_key FROM results r JOIN jobs j USING (job_id) WHERE r.run_id = ? "
            "ORDER BY j.job_key",
            [target],
        )
        if not stored:
            raise StoreError(f"nightly run {target} has no result to accept")
        accepts = [Accept(target, k["job_key"], why.strip(), context=ctx) for k in stored]
    else:
        rows = store.query(
            "SELECT j.job_key, r.run_id, ru.started_at FROM results r JOIN jobs j USING (job_id) "
            "JOIN runs ru ON ru.run_id = r.run_id WHERE ru.kind = 'nightly' "
            "AND ru.status LIKE 'finished%' AND (? IS NULL OR ru.plan_name = ?) "
            "ORDER BY ru.started_at DESC",
            [plan, plan],
        )
        keys = sorted({r["job_key"] for r in rows if _matches(r["job_key"], target)})
        if not keys:
            known = ", ".join(sorted({r["job_key"] for r in rows})[:8]) or "(none)"
            raise StoreError(
                f"{target!r} is neither a run id nor a nightly series in the store "
                f"(series: {known})"
            )
        if len(keys) > 1:
            raise PlanError(f"{target!r} matches several series: {', '.join(keys)}; name one")
        newest = next(r for r in rows if r["job_key"] == keys[0])
        accepts = [Accept(newest["run_id"], keys[0], why.strip(), context=ctx)]
    record_accepts(store, accepts)
    return accepts
