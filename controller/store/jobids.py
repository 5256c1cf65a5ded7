"""Job ids as people type them: the full id, or a unique prefix of it or of its hash part.

A job id is ``<run id>.<12 hex>``; ``rigbench ops 20261124T0103`` or ``ops 5f0c1d`` find the
one job that begins so, and an ambiguous or unknown prefix is a one-line error that says so.
"""

from __future__ import annotations

from rigbench.controller.store.db import Store
from rigbench.errors import StoreError


def resolve_job_id(store: Store, text: str) -> str:
    text = text.strip()
    if not text:
        raise StoreError("give a job id (see `rigbench results --format json`)")
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = store.query(
        "SELECT job_id FROM jobs WHERE job_id = ? OR job_id LIKE ? ESCAPE '\\' "
        "OR split_part(job_id, '.', 2) LIKE ? ESCAPE '\\' ORDER BY job_id LIMIT 6",
        [text, like, like],
    )
    ids = [r["job_id"] for r in rows]
    if text in ids:
        return text
    if not ids:
        raise StoreError(
            f"no job {text!r} in the store; `rigbench results --format json` lists jobs"
        )
    if len(ids) > 1:
        more = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise StoreError(f"job prefix {text!r} matches several jobs: {more}; give more of it")
    return ids[0]
