"""The run's write-behind: every result stored once, even with a write in flight at the end."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from rigbench.controller.store import Store
from rigbench.controller.store.db import JobMark, JobRecord
from rigbench.controller.store.writer import BatchWriter
from tests.builders.store import result


class SlowStore(Store):
    """A real store whose batches take long enough to still be running when the run ends."""

    def write_batch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return super().write_batch(*args, **kwargs)


def test_results_added_while_a_batch_is_being_written_are_all_stored(tmp_path: Path):
    store = SlowStore(tmp_path / "s.duckdb")
    ids = [f"j{i}" for i in range(12)]
    store.record_jobs(
        [JobRecord(i, "r", i, "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}") for i in ids]
    )
    writer = BatchWriter(store, max_delay_s=0.05)

    async def run() -> None:
        async with writer.running():
            for i in ids:
                writer.add(result(i))
                await asyncio.sleep(0.05)  # the last adds land while a batch is in flight

    asyncio.run(run())
    assert writer.stored == len(ids)
    rows = store.query("SELECT count(*) AS n, count(DISTINCT job_id) AS d FROM results")
    assert rows == [{"n": 12, "d": 12}]
    assert store.query("SELECT count(*) AS n FROM latency_samples") == [{"n": 36}]
    assert store.query("SELECT DISTINCT status FROM jobs") == [{"status": "done"}]


def test_a_result_stored_before_is_not_stored_again(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    store.record_jobs(
        [JobRecord("j", "r", "j", "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}")]
    )
    writer = BatchWriter(store)
    writer.add(result("j"))
    writer.add(result("j"))  # e.g. re-attached after a resume
    assert writer.flush() == 1
    writer.add(result("j"))
    assert writer.flush() == 0
    writer.release()
    assert store.query("SELECT count(*) AS n FROM latency_samples") == [{"n": 3}]


def test_a_job_started_and_finished_within_one_batch_keeps_its_real_times(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    store.record_jobs(
        [JobRecord("j", "r", "j", "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}")]
    )
    writer = BatchWriter(store)
    started = datetime(2025, 12, 31, 23, 59, 30)
    writer.mark(JobMark("j", "running", attempts=1, at=started))
    writer.add(result("j"))  # its row says it was created at 2026-01-01 00:00
    writer.flush()
    writer.release()
    rows = store.query("SELECT status, started_at, finished_at FROM jobs")
    assert rows == [{"status": "done", "started_at": started, "finished_at": datetime(2026, 1, 1)}]
