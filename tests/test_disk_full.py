"""A full disk on the agent, on a real small filesystem mounted as the agent's home.

Before: the spool's "done" write failed inside the error handler, the job never ended, the
device stayed busy for good (even after space was freed) and AttachJob hung. Now the job fails
as the farm's fault, nothing half-written becomes a result, the device is free, the agent
serves the next job as soon as there is room, and a resumed run stores the result once.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rigbench.agent.jobs import (
    JobFailure,
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.digest import sha256_file
from rigbench.failures import Blame, FailureKind
from tests.builders.processes import controller, query, write_inventory
from tests.conftest import client_for, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs, mounted for the test (CI runs as root, as the agent's tests need)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Fill the filesystem until ``leave_bytes`` are left; returns the filler to delete."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


def job(model: Path, job_id: str, iterations: int) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        artifact_sha256=sha256_file(model),
        model_format="onnx",
        runtime=RuntimeConfig(intra_op_threads=1),
        measurement=MeasurementConfig(
            warmup_iterations=1,
            min_iterations=iterations,
            max_iterations=iterations,
            min_duration_s=0,
        ),
        telemetry=TelemetryConfig(enabled=False),
    )


async def upload(agent, model: Path) -> None:
    async with client_for(agent) as c:
        await c.ensure_artifacts({sha256_file(model): model})


@pytest.mark.parametrize(
    ("leave_bytes", "where"),
    [(0, "the spool cannot take a single event"), (24 << 10, "the results do not fit")],
)
def test_a_full_disk_fails_the_job_as_the_farms_and_the_agent_keeps_serving(
    start_agent, small_disk, tiny, leave_bytes, where
):
    agent = start_agent(home=small_disk / "home")
    model = tiny.onnx_path
    full = job(model, "job-full", 10_000)  # 80 KB of latencies: more than is left

    async def go() -> tuple[object, object, str, object]:
        async with client_for(agent) as c:
            await c.ensure_artifacts({full.artifact_sha256: model})
            filler = fill(small_disk, leave_bytes)
            ended = [e async for e in c.run(full, timeout_s=120)][-1].body
            attached = [e async for e in c.attach("job-full", 0, timeout_s=30)][-1].body
            busy = (await c.describe()).busy_job_id
            filler.unlink()  # room again: the same agent serves the next job
            after = [e async for e in c.run(job(model, "job-after", 50), timeout_s=120)][-1].body
            return ended, attached, busy, after

    ended, attached, busy, after = run(go())
    assert isinstance(ended, JobFailure), (where, ended)
    assert ended.kind is FailureKind.DISK_FULL and ended.kind.blame is Blame.FARM
    assert "disk is full" in ended.message
    assert attached == ended  # AttachJob ends too, with the same failure: no hang
    assert busy == ""  # the device is free
    assert isinstance(after, JobResult)


def test_a_run_on_a_full_agent_stores_nothing_half_written_and_resume_stores_it_once(
    tmp_path, start_agent, small_disk, tiny
):
    agent = start_agent(home=small_disk / "home")
    inv = write_inventory(tmp_path / "inv.yaml", {"board": agent.address})
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: full\n"
        f"models: [{{name: cnn, path: {tiny.onnx_path}, variants: [fp32], "
        "accuracy: {samples: 0}}]\n"
        "runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]\n"
        "measurement: {min_iterations: 10000, max_iterations: 10000, min_duration_s: 0, "
        "warmup_iterations: 1}\n"
        "telemetry: {enabled: false}\nretries: 0\n"
    )
    run(upload(agent, tiny.onnx_path))  # the agent has the model, then its disk fills up
    filler = fill(small_disk, 24 << 10)
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv), "--quiet")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out  # the farm failed
    run_id = query(tmp_path, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert query(tmp_path, f"SELECT status, error_kind FROM jobs WHERE run_id = '{run_id}'") == [
        ("failed", "disk-full")
    ]
    assert query(tmp_path, f"SELECT count(*) FROM results WHERE run_id = '{run_id}'") == [(0,)]
    assert "disk-full (a farm failure)" in out
    filler.unlink()
    resumed = controller(tmp_path, "run", "--resume", run_id, "--inventory", str(inv), "--quiet")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert query(tmp_path, f"SELECT count(*) FROM results WHERE run_id = '{run_id}'") == [(1,)]
    assert query(tmp_path, f"SELECT status FROM jobs WHERE run_id = '{run_id}'") == [("done",)]
