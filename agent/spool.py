"""The on-disk spool: every event of a job is written here before it is sent.

A controller that dies mid-run comes back with ``rigbench run --resume`` and re-attaches: the
agent replays the job's events from this file. Events are stored as length-prefixed
``rigbench.v1.JobEvent`` messages (the wire form, so replay is byte-for-byte what was sent).
Spools are kept for a retention period and under a size cap, oldest removed first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from rigbench.agent.cache import check_digest
from rigbench.agent.convert import event_from_pb, event_to_pb
from rigbench.agent.jobs import JobEvent
from rigbench.errors import AgentError, DiskFullError, is_disk_full
from rigbench.v1 import agent_pb2 as pb

_LEN = struct.Struct("<I")
DONE_MARK = "done"


def check_job_id(job_id: str) -> str:
    """Job ids become folder names: letters, digits, '-', '_', '.', at most 128."""
    ok = 0 < len(job_id) <= 128 and all(c.isalnum() or c in "-_." for c in job_id)
    if not ok or job_id.startswith("."):
        raise AgentError(f"invalid job id {job_id[:80]!r}: use letters, digits, '-', '_', '.'")
    return job_id


class JobSpool:
    """The spool folder of one job."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.events_path = folder / "events.pb"
        self._tail_checked = False

    @property
    def finished(self) -> bool:
        """Ended: the done mark, or (when the disk was too full to write the mark) a last
        event that ends the job.
        """
        if (self.folder / DONE_MARK).exists():
            return True
        last = None
        for e in self.read():
            last = e
        return last is not None and last.is_terminal

    def append(self, event: JobEvent, sync: bool = False) -> None:
        """Write one event durably enough; a full disk raises ``DiskFullError`` and leaves
        nothing readable half-written (a torn record is cut before the next append).
        """
        data = event_to_pb(event).SerializeToString()
        try:
            if not self._tail_checked:
                self._drop_torn_tail()
                self._tail_checked = True
            with open(self.events_path, "ab") as f:
                f.write(_LEN.pack(len(data)) + data)
                f.flush()
                if sync or event.is_terminal:
                    os.fsync(f.fileno())
        except OSError as e:
            self._tail_checked = False
            if is_disk_full(e):
                raise DiskFullError(
                    f"the agent's disk is full: cannot spool job events ({e})"
                ) from e
            raise
        if event.is_terminal:
            # The mark only speeds up reading; the terminal event itself is what counts.
            with contextlib.suppress(OSError):
                (self.folder / DONE_MARK).write_text(str(time.time()))

    def _drop_torn_tail(self) -> None:
        """Cut a record torn by a crash, so that what is appended next stays readable."""
        if not self.events_path.exists():
            return
        data = self.events_path.read_bytes()
        pos = 0
        while pos + _LEN.size <= len(data):
            (n,) = _LEN.unpack_from(data, pos)
            if pos + _LEN.size + n > len(data):
                break
            pos += _LEN.size + n
        if pos < len(data):
            with open(self.events_path, "r+b") as f:
                f.truncate(pos)

    def read(self, from_seq: int = 0) -> Iterator[JobEvent]:
        """Stored events with seq >= from_seq; a torn last record (crash mid-write) is skipped."""
        if not self.events_path.exists():
            return
        data = self.events_path.read_bytes()
        pos = 0
        while pos + _LEN.size <= len(data):
            (n,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if pos + n > len(data):
                break
            msg = pb.JobEvent()
            msg.ParseFromString(data[pos : pos + n])
            pos += n
            if msg.seq >= from_seq:
                yield event_from_pb(msg)

    def last_seq(self) -> int:
        last = -1
        for e in self.read():
            last = e.seq
        return last


class Spool:
    """All job spools of an agent, with retention."""

    def __init__(self, root: Path, retention_days: float = 7.0, max_bytes: int = 2 << 30):
        self.root = root
        self.retention_s = retention_days * 86400
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def job(self, job_id: str) -> JobSpool:
        return JobSpool(self.root / check_job_id(job_id))

    def create(self, job_id: str) -> JobSpool:
        js = self.job(job_id)
        js.folder.mkdir(parents=True, exist_ok=True)
        return js

    def exists(self, job_id: str) -> bool:
        return self.job(job_id).events_path.exists()

    def prune(self, keep: set[str] | None = None) -> list[str]:
        """Drop finished spools past retention, then oldest ones until under the size cap."""
        keep = keep or set()
        now = time.time()
        entries = []
        for d in self.root.iterdir():
            if not d.is_dir() or d.name in keep or not JobSpool(d).finished:
                continue
            size = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
            entries.append((d.stat().st_mtime, size, d))
        removed = []
        total = sum(e[1] for e in entries)
        for mtime, size, d in sorted(entries, key=lambda e: e[0]):
            if now - mtime > self.retention_s or total > self.max_bytes:
                shutil.rmtree(d, ignore_errors=True)
                total -= size
                removed.append(d.name)
        return removed


__all__ = ["JobSpool", "Spool", "check_job_id", "check_digest"]
