"""The agent's edge against careless and hostile callers, over real gRPC to a real agent.

What no job can use is refused at the door with the right error; what the user got wrong is
the user's (input) and never rigbench's (internal); only a job's holder cancels it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rigbench.agent.cache import ArtifactCache
from rigbench.agent.jobs import (
    InputOverride,
    JobFailure,
    JobResult,
    JobSpec,
    MeasurementConfig,
    Progress,
    RuntimeConfig,
    TelemetryBatch,
    TelemetryConfig,
    TelemetryPoint,
)
from rigbench.agent.runner import JobRunner, RunningJob
from rigbench.agent.spool import Spool
from rigbench.controller.modelgen import GeneratedModel
from rigbench.digest import sha256_file
from rigbench.errors import ArtifactError, DeviceBusyError, JobSpecError, NotHolderError
from rigbench.failures import FailureKind
from rigbench.v1 import agent_pb2 as pb
from rigbench.v1 import agent_pb2_grpc as pb_grpc
from tests.conftest import client_for, run

pytestmark = pytest.mark.e2e

QUICK = MeasurementConfig(warmup_iterations=1, min_iterations=10, min_duration_s=0.0)


def spec(path: Path, job_id: str, **kw: object) -> JobSpec:
    base = JobSpec(
        job_id=job_id,
        artifact_sha256=sha256_file(path),
        model_format="onnx",
        runtime=RuntimeConfig(intra_op_threads=1),
        measurement=QUICK,
        telemetry=TelemetryConfig(enabled=False),
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


async def ended(agent, s: JobSpec, files: dict[str, Path]) -> JobResult | JobFailure:
    async with client_for(agent) as c:
        await c.ensure_artifacts(files)
        events = [e async for e in c.run(s, timeout_s=60)]
    body = events[-1].body
    assert isinstance(body, (JobResult, JobFailure))
    return body


def test_a_pickled_npz_is_the_users_input_error_not_a_rigbench_bug(agent, tiny, tmp_path):
    npz = tmp_path / "pickled.npz"
    np.savez(npz, input=np.array([{"a": 1}], dtype=object))
    s = spec(tiny.onnx_path, "job-pickle", inputs_npz_sha256=sha256_file(npz))
    r = run(ended(agent, s, {s.artifact_sha256: tiny.onnx_path, s.inputs_npz_sha256: npz}))
    assert isinstance(r, JobFailure) and r.kind is FailureKind.INPUT, r
    assert "holds Python objects (a pickle)" in r.message  # refused from its header, unread


def test_a_dtype_numpy_does_not_know_is_an_input_error(agent, tiny):
    s = spec(tiny.onnx_path, "job-dtype", inputs=(InputOverride("input", dtype="float77"),))
    r = run(ended(agent, s, {s.artifact_sha256: tiny.onnx_path}))
    assert isinstance(r, JobFailure) and r.kind is FailureKind.INPUT, r
    assert "float77" in r.message


def test_an_input_too_large_for_memory_is_an_input_error(agent, tiny_dynamic):
    huge = InputOverride("input", shape=(1 << 20, 3, 1 << 10, 1 << 10))  # 12 PiB of float32
    s = spec(tiny_dynamic.onnx_path, "job-huge", inputs=(huge,))
    r = run(ended(agent, s, {s.artifact_sha256: tiny_dynamic.onnx_path}))
    assert isinstance(r, JobFailure) and r.kind is FailureKind.INPUT, r


@pytest.mark.parametrize(
    "bad",
    [
        {"measurement": dataclasses.replace(QUICK, min_duration_s=math.nan)},
        {"measurement": dataclasses.replace(QUICK, max_duration_s=math.inf)},
        {"measurement": dataclasses.replace(QUICK, warmup_s=-1.0)},
        {"lease_ttl_s": math.nan},
        {"artifact_sha256": ""},
    ],
)
def test_a_spec_no_job_can_run_is_refused_at_the_edge(agent, tiny, bad):
    s = spec(tiny.onnx_path, "job-bad-spec", **bad)

    async def go() -> None:
        async with client_for(agent) as c:
            await c.ensure_artifacts({sha256_file(tiny.onnx_path): tiny.onnx_path})
            [e async for e in c.run(s, timeout_s=30)]

    with pytest.raises(JobSpecError) as e:
        run(go())
    assert JobSpecError.failure_kind is FailureKind.INPUT
    assert "job-bad-spec" in str(e.value)
    # nothing was started: the device is free and the next job runs
    assert isinstance(run(ended(agent, spec(tiny.onnx_path, "job-next"), {})), JobResult)


def test_an_empty_or_malformed_digest_is_refused_at_the_edge(agent):
    async def ask(digests: list[str]) -> list[str]:
        async with client_for(agent) as c:
            return await c.missing(digests)

    for bad in ["", "ABC", "0" * 63]:
        with pytest.raises(ArtifactError, match="not a sha256 digest"):
            run(ask([bad]))


def test_missing_artifacts_is_bounded_per_call_and_the_client_asks_in_batches(agent):
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]

    async def raw() -> None:
        async with client_for(agent) as c:
            stub = pb_grpc.AgentStub(c.channel)
            await stub.MissingArtifacts(pb.MissingArtifactsRequest(sha256=digests), timeout=10)

    with pytest.raises(Exception, match="at most 1024 per call"):
        run(raw())

    async def batched() -> list[str]:
        async with client_for(agent) as c:
            return await c.missing(digests)

    assert run(batched()) == digests


def slow_spec(tiny: GeneratedModel, job_id: str, holder: str) -> JobSpec:
    return spec(
        tiny.onnx_path,
        job_id,
        measurement=MeasurementConfig(warmup_iterations=1, min_iterations=1, min_duration_s=30),
        lease_holder=holder,
        lease_ttl_s=60.0,
    )


def test_only_the_holder_or_an_admin_cancels_a_job(agent, tiny):
    s = slow_spec(tiny, "job-held", "run A from here")

    async def go() -> tuple[str, FailureKind]:
        async with client_for(agent) as c:
            await c.ensure_artifacts({s.artifact_sha256: tiny.onnx_path})
            events = c.run(s, timeout_s=60)
            async for e in events:  # the job is measuring: its holder is known to the agent
                if isinstance(e.body, Progress) and e.body.phase == "measuring":
                    break
            with pytest.raises(NotHolderError, match="belongs to run A from here"):
                await c.cancel("job-held", lease_holder="run B from elsewhere")
            with pytest.raises(NotHolderError):
                await c.cancel("job-held")  # no holder given
            state = await c.cancel("job-held", lease_holder="run B", admin=True)
            last = [e async for e in events][-1].body
            assert isinstance(last, JobFailure)
            return state, last.kind

    state, kind = run(go())
    assert state == "cancelling" and kind is FailureKind.CANCELLED


def test_attach_from_a_negative_sequence_number_drops_nothing(tmp_path):
    """A follower that joins a running job from seq -5 gets every event, not the last five."""

    async def go() -> list[int]:
        runner = JobRunner(ArtifactCache(tmp_path / "a"), Spool(tmp_path / "s"), tmp_path / "c")
        job = RunningJob(
            spec=JobSpec(job_id="j", artifact_sha256="0" * 64, model_format="onnx"),
            spool=runner.spool.create("j"),
        )
        runner.current = job
        for i in range(10):
            job.emit(TelemetryBatch((TelemetryPoint(i, "cpu", "temp_mc", 40.0),)))

        async def follow() -> list[int]:
            return [e.seq async for e in runner.follow("j", -5)]

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0)  # let it join the running job and wait for the next event
        job.emit(JobFailure(FailureKind.CANCELLED, "done"))
        return await follower

    assert run(go()) == list(range(11))


@pytest.mark.parametrize("token", ["", "   \n\t "])
def test_an_empty_or_blank_token_file_is_refused_not_taken_as_no_auth(tmp_path, token):
    tf = tmp_path / "token"
    tf.write_text(token)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rigbench",
            "agent",
            "serve",
            "--port",
            "0",
            "--home",
            str(tmp_path / "home"),
            "--token-file",
            str(tf),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "is empty or blank" in proc.stderr and "Traceback" not in proc.stderr


def test_a_second_agent_on_the_same_home_is_refused(agent):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rigbench",
            "agent",
            "serve",
            "--port",
            "0",
            "--home",
            str(agent.home),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"pid {agent.process.pid}" in proc.stderr and "already serves" in proc.stderr
    assert run(_healthy(agent))


async def _healthy(agent) -> bool:
    async with client_for(agent) as c:
        return await c.check_health()


def test_a_lease_asked_for_too_long_is_capped(start_agent, tiny):
    agent = start_agent("--max-lease-s", "60")  # a loaded machine cannot outlast it
    s = spec(tiny.onnx_path, "job-lease", lease_holder="greedy", lease_ttl_s=1e12)
    other = spec(tiny.onnx_path, "job-other", lease_holder="patient", lease_ttl_s=10)

    async def go() -> str:
        async with client_for(agent) as c:
            await c.ensure_artifacts({s.artifact_sha256: tiny.onnx_path})
            [e async for e in c.run(s, timeout_s=60)]
            with pytest.raises(DeviceBusyError) as busy:
                [e async for e in c.run(other, timeout_s=60)]
            return str(busy.value)

    message = run(go())
    # "device leased by greedy for another 60 s": the agent's cap, not 1e12 s
    assert "leased by greedy for another" in message
    assert float(message.split("for another ")[1].split(" s")[0]) <= 60


def test_a_blank_token_file_in_the_inventory_is_refused_not_sent_as_no_token(tmp_path):
    from rigbench.controller.connect import grpc_channel_config
    from rigbench.controller.inventory import Device
    from rigbench.errors import InventoryError

    (tmp_path / "token").write_text("  \n")
    device = Device.model_validate(
        {
            "name": "board",
            "class": "x86",
            "grpc": {"address": "127.0.0.1:1", "token_file": str(tmp_path / "token")},
        }
    )
    with pytest.raises(InventoryError, match="is empty or blank"):
        grpc_channel_config(device)
