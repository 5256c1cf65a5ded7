"""Hand the store file from a long-running writer to a process that is waiting for it.

DuckDB lets one process at a time open a file for writing, and opening a database costs
~16 ms of CPU however small it is. A run's writer therefore keeps its connection between
batches, and lets go of it only when somebody asks: a process that finds the file locked
leaves a small "waiting" file beside it, the writer sees it (after its next batch, or within
half a second when idle) and closes its connection, and it does not open the file again until
that waiter has it (or gives up). If the waiter is still reading then, the writer in turn waits
for the lock, as any process does.

Waiting files carry the waiter's pid and are ignored once older than ``STALE_S``, so a
reader killed while waiting costs the writer a few early releases, never a stuck run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

STALE_S = 90.0
_SUFFIX = ".waiting-"


def _prefix(db: Path) -> str:
    return db.name + _SUFFIX


@contextlib.contextmanager
def waiting_for(db: Path) -> Iterator[None]:
    """Say "I am waiting for this file" for as long as the block runs."""
    mark = db.with_name(f"{_prefix(db)}{os.getpid()}-{secrets.token_hex(3)}")
    try:
        mark.touch()
    except OSError:  # a read-only folder: the writer lets go on its own schedule instead
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()


def someone_waits(db: Path) -> bool:
    """True if another process left a fresh waiting file for ``db``; stale ones are swept."""
    prefix = _prefix(db)
    try:
        names = [n for n in os.listdir(db.parent) if n.startswith(prefix)]
    except OSError:
        return False
    now = time.time()
    for name in names:
        path = db.parent / name
        try:
            if now - path.stat().st_mtime < STALE_S:
                return True
            path.unlink()
        except OSError:
            continue  # gone meanwhile: its waiter was served
    return False


def let_waiters_in(db: Path, max_wait_s: float, poll_s: float = 0.05) -> None:
    """Block (on the caller's thread) while someone waits for ``db``, up to ``max_wait_s``."""
    deadline = time.monotonic() + max_wait_s
    while someone_waits(db) and time.monotonic() < deadline:
        time.sleep(poll_s)
