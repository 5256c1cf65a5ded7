"""Write-behind for a run: results and job marks are committed in batches, not one by one.

A commit costs milliseconds (open, write-ahead log, sync); with hundreds of devices finishing
jobs at once that would make the store the controller's bottleneck. The agents' spools keep
every event until a controller stores it, so holding results for a fraction of a second
before one transaction loses nothing: a controller that dies in between is resumed with
``rigbench run --resume``, which re-attaches and stores each result exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from rigbench.controller.store.db import DeviceRecord, JobMark, ResultRecord, Store


class BatchWriter:
    def __init__(self, store: Store, max_delay_s: float = 0.5, max_batch: int = 256):
        self.store = store
        self.max_delay_s = max_delay_s
        self.max_batch = max_batch
        self._marks: list[JobMark] = []
        self._results: list[ResultRecord] = []
        self._devices: list[DeviceRecord] = []
        self._wake = asyncio.Event()
        self.stored = 0

    def mark(self, mark: JobMark) -> None:
        self._marks.append(mark)

    def device(self, record: DeviceRecord) -> None:
        self._devices.append(record)

    def add(self, result: ResultRecord) -> None:
        self._results.append(result)
        if len(self._results) >= self.max_batch:
            self._wake.set()

    def flush(self) -> int:
        """Commit everything pending in one transaction; returns results newly stored."""
        if not self._marks and not self._results and not self._devices:
            return 0
        marks, results, devices = self._marks, self._results, self._devices
        self._marks, self._results, self._devices = [], [], []
        n = self.store.write_batch(marks, results, devices)
        self.stored += n
        return n

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BatchWriter]:
        """Flush periodically while the block runs, and everything at its end."""

        async def loop() -> None:
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.max_delay_s)
                self._wake.clear()
                self.flush()

        task = asyncio.get_running_loop().create_task(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.flush()
