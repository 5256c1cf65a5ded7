"""Write-behind for a run: results and job marks are committed in batches, not one by one.

A commit costs milliseconds (open, write-ahead log, sync); with hundreds of devices finishing
jobs at once that would make the store the controller's bottleneck. The agents' spools keep
every event until a controller stores it, so holding results for a few seconds before one
transaction loses nothing: a controller that dies in between is resumed with
``rigbench run --resume``, which re-attaches and stores each result exactly once.

Batches are written on a worker thread, so waiting for the file never blocks the event loop.
The writer keeps its connection across batches (opening DuckDB costs ~16-20 ms of CPU) and
lets go of it when another process (``rigbench results``, ``rank``, ``report``) is waiting
for the file (see ``handoff.py``), or at the latest every ``release_every_s``: DuckDB lets one
process at a time open a file for writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from rigbench.controller.store.db import DeviceRecord, JobMark, JobRecord, ResultRecord, Store
from rigbench.controller.store.handoff import let_waiters_in, someone_waits
from rigbench.errors import StoreError

log = logging.getLogger("rigbench.controller")


class BatchWriter:
    def __init__(
        self,
        store: Store,
        max_delay_s: float = 10.0,
        max_batch: int = 256,
        release_every_s: float = 30.0,
        poll_s: float = 0.5,
    ):
        self.store = store
        self.release_every_s = release_every_s
        self._stack: contextlib.ExitStack | None = None
        self._con: Any = None
        self._opened_at = 0.0
        self._lock = threading.RLock()
        self.max_delay_s = max_delay_s
        self.max_batch = max_batch
        self.poll_s = poll_s
        self._marks: list[JobMark] = []
        self._results: list[ResultRecord] = []
        self._devices: list[DeviceRecord] = []
        self._wake = asyncio.Event()
        self.stored = 0

    def device(self, record: DeviceRecord) -> None:
        self._devices.append(record)

    def mark(self, mark: JobMark) -> None:
        self._marks.append(mark)

    def record_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Insert job rows now, between batches (``rigbench tune`` decides its jobs one at a
        time, and a batch's marks need their rows).
        """
        with self._lock:
            self.store.record_jobs(jobs)

    def add(self, result: ResultRecord) -> None:
        self._results.append(result)
        if len(self._results) >= self.max_batch:
            self._wake.set()

    def _wake_due(self) -> bool:
        return len(self._results) >= self.max_batch

    def _take(self) -> tuple[list[JobMark], list[ResultRecord], list[DeviceRecord]]:
        taken = self._marks, self._results, self._devices
        self._marks, self._results, self._devices = [], [], []
        return taken

    def flush(self) -> int:
        """Commit everything pending in one transaction; returns results newly stored."""
        marks, results, devices = self._take()
        if not (marks or results or devices):
            return 0
        n = self._write(marks, results, devices)
        self.stored += n
        return n

    def _write(
        self, marks: list[JobMark], results: list[ResultRecord], devices: list[DeviceRecord]
    ) -> int:
        with self._lock:  # one connection, one transaction at a time
            return self._write_locked(marks, results, devices)

    def _write_locked(
        self, marks: list[JobMark], results: list[ResultRecord], devices: list[DeviceRecord]
    ) -> int:
        if self._stack is None:
            # A process that asked for the file gets it before the run takes it back.
            let_waiters_in(self.store.path, max_wait_s=self.store.lock_wait_s)
            stack = contextlib.ExitStack()
            self._con = stack.enter_context(self.store.open_writer())  # may raise StoreError
            self._stack, self._opened_at = stack, time.monotonic()
        try:
            return self.store.write_batch(marks, results, devices, con=self._con)
        finally:
            held_long = time.monotonic() - self._opened_at > self.release_every_s
            if held_long or someone_waits(self.store.path):
                self.release()

    def release(self) -> None:
        """Close the connection; the next batch opens it again, after any waiting process."""
        with self._lock:
            if self._stack is not None:
                stack, self._stack, self._con = self._stack, None, None
                stack.close()

    async def flush_async(self) -> int:
        """As ``flush``, on a worker thread: waiting for the file never blocks the loop.

        If the store cannot be opened (another process kept it past ``lock_wait_s``), the
        batch goes back to the front of the queue and the error is raised.
        """
        marks, results, devices = self._take()  # taken on the loop thread: no race
        if not (marks or results or devices):
            return 0
        loop = asyncio.get_running_loop()
        try:
            n = await loop.run_in_executor(None, self._write, marks, results, devices)
        except StoreError:
            self._marks[:0], self._results[:0], self._devices[:0] = marks, results, devices
            raise
        self.stored += n
        return n

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BatchWriter]:
        """Flush while the block runs, and everything at its end.

        A batch is written when ``max_batch`` results are pending, when the oldest is
        ``max_delay_s`` old, or at once when another process waits for the store (it then
        reads everything stored so far, and gets the file). Every batch costs ~15 ms of CPU
        whatever its size, and nothing is lost by waiting: the agents' spools keep every
        result until ``run --resume`` stores it.

        The flusher is asked to stop, never cancelled: a cancelled await would leave its write
        running on the worker thread while the final flush and ``release`` use the connection.
        """
        stopping = False
        clock = asyncio.get_running_loop().time

        async def loop() -> None:
            last = clock()
            while not stopping:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                self._wake.clear()
                waiting = someone_waits(self.store.path)
                if waiting or stopping or clock() - last >= self.max_delay_s or self._wake_due():
                    last = clock()
                    try:
                        await self.flush_async()
                    except StoreError as e:  # kept for the next batch; the run goes on
                        log.warning("results kept in memory for now: %s", e)
                if waiting and self._stack is not None:  # nothing was pending: let go anyway
                    await asyncio.get_running_loop().run_in_executor(None, self.release)

        task = asyncio.get_running_loop().create_task(loop())
        try:
            yield self
        finally:
            stopping = True
            self._wake.set()
            try:
                await task  # the write in flight finishes first
                await self.flush_async()
            finally:
                self.release()
