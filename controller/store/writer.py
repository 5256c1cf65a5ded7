"""Write-behind for a run: results and job marks are committed in batches, not one by one.

A commit costs milliseconds (open, write-ahead log, sync); with hundreds of devices finishing
jobs at once that would make the store the controller's bottleneck. The agents' spools keep
every event until a controller stores it, so holding results for a fraction of a second
before one transaction loses nothing: a controller that dies in between is resumed with
``rigbench run --resume``, which re-attaches and stores each result exactly once.

Batches are written on a worker thread, so waiting for the file never blocks the event loop.
The writer keeps its connection across batches (opening DuckDB costs ~20 ms of CPU) but lets
go of it every few seconds, so other processes (``rigbench results``, ``rank``, ``report``)
can read the store while a long run goes on: DuckDB lets one process at a time open a file
for writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from rigbench.controller.store.db import DeviceRecord, JobMark, ResultRecord, Store


class BatchWriter:
    def __init__(
        self,
        store: Store,
        max_delay_s: float = 0.5,
        max_batch: int = 256,
        release_every_s: float = 5.0,
    ):
        self.store = store
        self.release_every_s = release_every_s
        self._stack: contextlib.ExitStack | None = None
        self._con: Any = None
        self._opened_at = 0.0
        self._lock = threading.RLock()
        self.max_delay_s = max_delay_s
        self.max_batch = max_batch
        self._marks: list[JobMark] = []
        self._results: list[ResultRecord] = []
        self._devices: list[DeviceRecord] = []
        self._wake = asyncio.Event()
        self.stored = 0

    def device(self, record: DeviceRecord) -> None:
        self._devices.append(record)

    def mark(self, mark: JobMark) -> None:
        self._marks.append(mark)

    def add(self, result: ResultRecord) -> None:
        self._results.append(result)
        if len(self._results) >= self.max_batch:
            self._wake.set()

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
            self._stack = contextlib.ExitStack()
            self._con = self._stack.enter_context(self.store.open_writer())
            self._opened_at = time.monotonic()
        try:
            return self.store.write_batch(marks, results, devices, con=self._con)
        finally:
            if time.monotonic() - self._opened_at > self.release_every_s:
                self.release()

    def release(self) -> None:
        """Close the connection: readers in other processes can open the store until next batch."""
        with self._lock:
            if self._stack is not None:
                stack, self._stack, self._con = self._stack, None, None
                stack.close()

    async def flush_async(self) -> int:
        """As ``flush``, on a worker thread: waiting for the file never blocks the loop."""
        marks, results, devices = self._take()  # taken on the loop thread: no race
        if not (marks or results or devices):
            return 0
        loop = asyncio.get_running_loop()
        n = await loop.run_in_executor(None, self._write, marks, results, devices)
        self.stored += n
        return n

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BatchWriter]:
        """Flush periodically while the block runs, and everything at its end.

        The flusher is asked to stop, never cancelled: a cancelled await would leave its write
        running on the worker thread while the final flush and ``release`` use the connection.
        """
        stopping = False

        async def loop() -> None:
            while not stopping:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.max_delay_s)
                self._wake.clear()
                await self.flush_async()

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
