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

Only rigbench processes know this hand-off. A notebook or the DuckDB shell that keeps the file
open never lets go, so waiting for it is pointless: every rigbench connection leaves an
"open" file (with its pid) beside the store while it is open, and when DuckDB's lock error
names a holder without one, that holder is a foreign process, named in the error at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STALE_S = 90.0
_SUFFIX = ".waiting-"
_OPEN = ".open-"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")
_opened: dict[Path, int] = {}  # open connections per marker, in this process
_opened_lock = threading.Lock()


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


def _open_mark(db: Path, pid: int) -> Path:
    return db.with_name(f"{db.name}{_OPEN}{pid}")


@contextlib.contextmanager
def holding(db: Path) -> Iterator[None]:
    """Say "rigbench has this file open" (for ``lock_holder``) while the block runs."""
    mark = _open_mark(db, os.getpid())
    with _opened_lock:
        count = _opened.get(mark, 0)
        _opened[mark] = count + 1
        if count == 0:
            with contextlib.suppress(OSError):  # a read-only folder: nobody can write there
                mark.write_text(_started(os.getpid()))
    try:
        yield
    finally:
        with _opened_lock:
            count = _opened[mark] - 1
            if count:
                _opened[mark] = count
            else:
                del _opened[mark]
                with contextlib.suppress(OSError):
                    mark.unlink()


@dataclass(frozen=True)
class Holder:
    """The process DuckDB says holds the lock on a store."""

    pid: int
    name: str  # /proc/PID/comm, else the program DuckDB named
    rigbench: bool  # it knows the hand-off (it left an "open" file)

    def __str__(self) -> str:
        return f"process {self.pid} ({self.name})"


def _started(pid: int) -> str:
    """When the process started (clock ticks since boot), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name may hold spaces


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except OSError:
        return None


def lock_holder(db: Path, message: str) -> Holder | None:
    """The holder named in DuckDB's lock error, or None if the message names none."""
    m = _LOCK_HOLDER.search(message)
    if not m:
        return None
    pid = int(m.group(2))
    mark = _open_mark(db, pid)
    try:
        rigbench = mark.read_text() == _started(pid)
    except OSError:
        rigbench = False
    else:
        if not rigbench:  # left by a killed rigbench process: the pid is another's now
            with contextlib.suppress(OSError):
                mark.unlink()
    return Holder(pid, _comm(pid) or Path(m.group(1)).name, rigbench)
