"""A run's writer keeps the store open and hands it to another process that waits for it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from rigbench.controller.store import Store
from rigbench.controller.store.db import JobMark, JobRecord
from rigbench.controller.store.handoff import STALE_S, someone_waits, waiting_for
from rigbench.controller.store.writer import BatchWriter
from tests.builders.store import result

READER = """
import sys
from pathlib import Path
from rigbench.controller.store import Store
rows = Store(Path(sys.argv[1])).query("SELECT count(*) AS n FROM jobs")
print("jobs:", rows[0]["n"])
"""


def test_a_waiting_file_is_seen_while_its_waiter_waits_and_gone_after(tmp_path: Path):
    db = tmp_path / "s.duckdb"
    assert not someone_waits(db)
    with waiting_for(db):
        assert someone_waits(db)
    assert not someone_waits(db)


def test_a_stale_waiting_file_is_ignored_and_swept(tmp_path: Path):
    db = tmp_path / "s.duckdb"
    stale = tmp_path / f"{db.name}.waiting-99999-abcdef"
    stale.touch()
    old = time.time() - STALE_S - 5
    os.utime(stale, (old, old))
    assert not someone_waits(db)
    assert not stale.exists()


def test_another_process_reads_the_store_while_a_run_keeps_writing(tmp_path: Path):
    """Without the handoff the writer, flushing every 0.2 s and never releasing on its own
    schedule, would keep the file until the reader gave up with a lock error.
    """
    store = Store(tmp_path / "s.duckdb")
    ids = [f"j{i}" for i in range(50)]
    store.record_jobs(
        [JobRecord(i, "r", i, "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}") for i in ids]
    )
    writer = BatchWriter(store, release_every_s=3600)
    writer.mark(JobMark(ids[0], "running", attempts=1))
    writer.flush()  # the writer now holds the file
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(store.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for job in ids[1:]:  # a run going on: a batch every 0.2 s
            if reader.poll() is not None:
                break
            writer.mark(JobMark(job, "running", attempts=1))
            writer.flush()
            time.sleep(0.2)
        out, _ = reader.communicate(timeout=60)
    finally:
        writer.release()
    assert reader.returncode == 0, out
    assert "jobs: 50" in out
    # ... and the run's writes went on after the reader was served
    writer.mark(JobMark(ids[-1], "done"))
    writer.flush()
    writer.release()
    assert store.query("SELECT status FROM jobs WHERE job_id = ?", [ids[-1]]) == [
        {"status": "done"}
    ]


def test_a_run_that_is_between_batches_lets_a_waiting_process_in(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    store.record_jobs(
        [JobRecord("j", "r", "j", "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}")]
    )
    writer = BatchWriter(store, max_delay_s=3600, release_every_s=3600, poll_s=0.1)

    async def run() -> str:
        async with writer.running():
            writer.mark(JobMark("j", "running", attempts=1))
            await writer.flush_async()  # the run holds the file and has nothing pending
            reader = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                READER.replace("FROM jobs", "FROM jobs WHERE status = 'running'"),
                str(store.path),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(reader.communicate(), 60)
            assert reader.returncode == 0, out
            return out.decode()

    assert "jobs: 1" in asyncio.run(run())


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_results_wait_in_memory_while_another_process_keeps_the_store_too_long(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb", lock_wait_s=0.3)
    store.record_jobs(
        [JobRecord("j", "r", "j", "d", "m", "v", "a", "ort", "onnxruntime", "s", "{}")]
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path), "2"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    writer = BatchWriter(store, max_delay_s=0.1, poll_s=0.05)

    async def run() -> None:
        async with writer.running():
            writer.add(result("j"))
            await asyncio.sleep(1.0)  # batches fail to open the store meanwhile, and are kept
            assert writer.stored == 0
            await asyncio.get_running_loop().run_in_executor(None, holder.wait)

    asyncio.run(run())
    assert writer.stored == 1
    assert store.query("SELECT job_id FROM results") == [{"job_id": "j"}]
