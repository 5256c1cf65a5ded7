"""The agent as a real process over real gRPC on loopback: the wire contract end to end."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import grpc
import pytest

from rigbench.agent.jobs import (
    InputOverride,
    JobFailure,
    JobResult,
    JobSpec,
    MeasurementConfig,
    Progress,
    RuntimeConfig,
)
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.modelgen import GeneratedModel
from rigbench.digest import sha256_file
from rigbench.errors import AgentUnreachableError, ArtifactError, DeviceBusyError
from rigbench.v1 import agent_pb2 as pb
from rigbench.v1 import agent_pb2_grpc as pb_grpc
from tests.builders.jobs import run_job, spec, terminal
from tests.conftest import client_for, run

pytestmark = pytest.mark.e2e


def test_describe_reports_hardware_runtimes_and_protocol(agent):
    async def go():
        async with client_for(agent) as c:
            return await c.describe()

    d = run(go())
    assert d.protocol_version == "v1"
    assert d.cpu_cores_logical >= 1 and d.memory_bytes > 0
    assert d.arch and d.kernel and d.python_version
    runtimes = {r.name: r for r in d.runtimes}
    assert "CPUExecutionProvider" in runtimes["onnxruntime"].providers
    assert runtimes["litert"].providers == ("xnnpack", "none")
    assert any(s.source == "procfs" and s.status == "available" for s in d.sensors)


def test_health_service_reports_serving(agent):
    async def go():
        async with client_for(agent) as c:
            return await c.check_health()

    assert run(go()) is True


def test_a_small_artifact_is_offered_directly_and_not_stored_twice(agent, tmp_path):
    small = tmp_path / "inputs.npz"
    small.write_bytes(os.urandom(2000))
    files = {sha256_file(small): small}

    async def upload() -> int:
        async with client_for(agent) as c:  # a new connection knows nothing of the agent
            return await c.ensure_artifacts(files)

    assert run(upload()) == 2000
    assert run(upload()) == 0  # the agent answered "already present"


def test_an_artifact_gone_from_here_is_taken_from_the_agents_cache(agent, tmp_path):
    # A nightly pair's baseline artifact may be cleaned from the compile cache: the agent's
    # copy serves, and where the agent lacks it too the error says where it looked.
    model = tmp_path / "baseline.onnx"
    model.write_bytes(os.urandom(200_000))
    digest = sha256_file(model)

    async def upload(files: dict) -> int:
        async with client_for(agent) as c:
            return await c.ensure_artifacts(files)

    assert run(upload({digest: model})) == 200_000
    model.unlink()
    assert run(upload({digest: model})) == 0
    with pytest.raises(ArtifactError, match="neither here .* nor in the cache of the agent"):
        run(upload({"0" * 64: tmp_path / "gone.onnx"}))


def test_only_missing_artifacts_are_uploaded(agent, tiny: GeneratedModel):
    files = {sha256_file(tiny.onnx_path): tiny.onnx_path}

    async def go():
        async with client_for(agent) as c:
            first = await c.ensure_artifacts(files)
            second = await c.ensure_artifacts(files)
            missing = await c.missing(list(files))
            return first, second, missing

    first, second, missing = run(go())
    assert first == tiny.onnx_path.stat().st_size
    assert second == 0
    assert missing == []


def test_upload_whose_bytes_do_not_match_digest_is_refused_and_not_stored(agent, tiny):
    wrong = hashlib.sha256(b"something else").hexdigest()

    async def go():
        async with client_for(agent) as c:
            with pytest.raises(ArtifactError, match="hashed to"):
                await c.put_artifact(tiny.onnx_path, wrong)
            return await c.missing([wrong])

    assert run(go()) == [wrong]
    assert not (agent.home / "artifacts" / wrong).exists()


def test_upload_over_the_size_limit_is_refused(start_agent, tiny):
    small = start_agent("--max-upload-mb", "0.01")

    async def go():
        async with client_for(small) as c:
            with pytest.raises(ArtifactError, match="upload limit"):
                await c.put_artifact(tiny.onnx_path)
            return await c.missing([sha256_file(tiny.onnx_path)])

    assert len(run(go())) == 1


def test_job_measures_every_iteration_and_reports_the_provider_used(agent, tiny):
    s = spec(tiny.onnx_path, "job-ok")

    async def go():
        async with client_for(agent) as c:
            return await run_job(c, s, {s.artifact_sha256: tiny.onnx_path})

    events = run(go())
    r = terminal(events)
    assert isinstance(r, JobResult), r
    assert len(r.latencies_ns) >= 20 and all(x > 0 for x in r.latencies_ns)
    assert r.providers_used == ["CPUExecutionProvider"]
    assert r.load_ns > 0 and r.first_inference_ns > 0
    assert r.peak_rss_bytes >= r.rss_before_load_bytes > 0
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and seqs[-1] == events[-1].seq


def test_the_spool_keeps_every_phase_the_live_stream_may_skip(agent, tiny):
    s = spec(tiny.onnx_path, "job-phases")

    async def go():
        async with client_for(agent) as c:
            live = await run_job(c, s, {s.artifact_sha256: tiny.onnx_path})
            replay = [e async for e in c.attach("job-phases", 0, timeout_s=30)]
            return live, replay

    live, replay = run(go())
    assert [e.seq for e in replay] == list(range(len(replay)))
    phases = [e.body.phase for e in replay if isinstance(e.body, Progress)]
    assert phases[:3] == ["loading", "warmup", "measuring"]
    assert {e.seq for e in live} <= {e.seq for e in replay}
    assert isinstance(live[-1].body, JobResult) and live[-1].seq == replay[-1].seq


def test_litert_job_runs_with_and_without_xnnpack(agent, tiny):
    async def go():
        out = {}
        async with client_for(agent) as c:
            for delegate in ("xnnpack", "none"):
                s = spec(tiny.tflite_path, f"lite-{delegate}", fmt="tflite", runtime="litert")
                s = JobSpec(**{**s.__dict__, "runtime": RuntimeConfig("litert", (delegate,))})
                out[delegate] = terminal(await run_job(c, s, {s.artifact_sha256: tiny.tflite_path}))
        return out

    out = run(go())
    for delegate, r in out.items():
        assert isinstance(r, JobResult), r
        assert r.providers_used == [delegate]


def test_running_a_finished_job_id_again_replays_the_stored_result(agent, tiny):
    s = spec(tiny.onnx_path, "job-idem")

    async def go():
        async with client_for(agent) as c:
            first = await run_job(c, s, {s.artifact_sha256: tiny.onnx_path})
            again = [e async for e in c.run(s, timeout_s=60)]
            return first, again

    first, again = run(go())
    r1, r2 = terminal(first), terminal(again)
    assert isinstance(r1, JobResult) and isinstance(r2, JobResult)
    assert r2.latencies_ns == r1.latencies_ns
    assert all(e.replayed for e in again)


def test_second_concurrent_job_is_refused_naming_the_holder(agent, tiny):
    slow = MeasurementConfig(warmup_iterations=0, min_iterations=1, min_duration_s=3.0)
    holder = spec(tiny.onnx_path, "job-holder", measurement=slow, label="holder-label")
    other = spec(tiny.onnx_path, "job-other")

    async def go():
        async with client_for(agent) as c:
            await c.ensure_artifacts({holder.artifact_sha256: tiny.onnx_path})
            stream = c.run(holder, timeout_s=60)
            first = await stream.__anext__()  # the job has started
            with pytest.raises(DeviceBusyError) as busy:
                async for _ in c.run(other, timeout_s=10):
                    pass
            rest = [e async for e in stream]
            return first, busy.value, rest

    first, err, rest = run(go())
    assert "job-holder" in str(err) and "since" in str(err)
    assert isinstance(rest[-1].body, JobResult)


def test_raw_grpc_status_for_a_busy_device_is_resource_exhausted(agent, tiny):
    slow = MeasurementConfig(warmup_iterations=0, min_iterations=1, min_duration_s=2.0)
    holder = spec(tiny.onnx_path, "job-h2", measurement=slow)

    async def go():
        async with client_for(agent) as c:
            await c.ensure_artifacts({holder.artifact_sha256: tiny.onnx_path})
            stream = c.run(holder, timeout_s=60)
            await stream.__anext__()
            async with grpc.aio.insecure_channel(agent.address) as ch:
                stub = pb_grpc.AgentStub(ch)
                call = stub.RunBenchmark(
                    pb.JobSpec(
                        job_id="x", artifact_sha256=holder.artifact_sha256, model_format="onnx"
                    ),
                    timeout=10,
                )
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    async for _ in call:
                        pass
            [x async for x in stream]
            return e.value.code()

    assert run(go()) == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_model_fails_the_job_and_the_agent_serves_the_next(agent, tiny, tmp_path, damage):
    data = tiny.onnx_path.read_bytes()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"\x08\x07garbage" * 100)
    bad_spec = spec(bad, f"job-bad-{damage}")
    good_spec = spec(tiny.onnx_path, f"job-after-{damage}")

    async def go():
        async with client_for(agent) as c:
            failed = terminal(await run_job(c, bad_spec, {bad_spec.artifact_sha256: bad}))
            ok = terminal(await run_job(c, good_spec, {good_spec.artifact_sha256: tiny.onnx_path}))
            return failed, ok

    failed, ok = run(go())
    assert isinstance(failed, JobFailure) and failed.kind == "model", failed
    assert "onnxruntime could not load" in failed.message
    assert isinstance(ok, JobResult)


def test_dynamic_dimension_without_override_names_input_and_dimension(agent, tiny_dynamic):
    s = spec(tiny_dynamic.onnx_path, "job-dyn")

    async def go():
        async with client_for(agent) as c:
            return terminal(await run_job(c, s, {s.artifact_sha256: tiny_dynamic.onnx_path}))

    r = run(go())
    assert isinstance(r, JobFailure) and r.kind == "input"
    assert "'input'" in r.message and "dimension 0" in r.message and "batch" in r.message


def test_dynamic_dimension_resolved_by_override_runs_at_that_shape(agent, tiny_dynamic):
    s = spec(
        tiny_dynamic.onnx_path, "job-dyn-ok", inputs=(InputOverride("input", shape=(2, 3, 16, 16)),)
    )

    async def go():
        async with client_for(agent) as c:
            return terminal(await run_job(c, s, {s.artifact_sha256: tiny_dynamic.onnx_path}))

    r = run(go())
    assert isinstance(r, JobResult), r
    assert r.inputs[0].shape == (2, 3, 16, 16)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (InputOverride("input", shape=(1, 3, 16)), "rank 4"),
        (InputOverride("input", dtype="int64"), "is float32, but the override is int64"),
        (InputOverride("nope", shape=(1,)), "unknown input 'nope'"),
    ],
)
def test_bad_override_fails_with_input_error(agent, tiny, override, message):
    s = spec(tiny.onnx_path, f"job-ov-{abs(hash(message))}", inputs=(override,))

    async def go():
        async with client_for(agent) as c:
            return terminal(await run_job(c, s, {s.artifact_sha256: tiny.onnx_path}))

    r = run(go())
    assert isinstance(r, JobFailure) and r.kind == "input"
    assert message in r.message


def test_attach_replays_a_jobs_events_from_a_sequence_number(agent, tiny):
    s = spec(tiny.onnx_path, "job-attach")

    async def go():
        async with client_for(agent) as c:
            live = await run_job(c, s, {s.artifact_sha256: tiny.onnx_path})
            tail = [e async for e in c.attach("job-attach", 2, timeout_s=30)]
            return live, tail

    live, tail = run(go())
    assert [e.seq for e in tail] == list(range(2, live[-1].seq + 1))
    assert isinstance(tail[-1].body, JobResult)


def test_cancel_ends_a_running_job_with_a_cancelled_failure(agent, tiny):
    long = MeasurementConfig(
        warmup_iterations=0, min_iterations=1, min_duration_s=30.0, max_duration_s=60
    )
    s = spec(tiny.onnx_path, "job-cancel", measurement=long)

    async def go():
        async with client_for(agent) as c:
            await c.ensure_artifacts({s.artifact_sha256: tiny.onnx_path})
            stream = c.run(s, timeout_s=60)
            async for e in stream:
                if isinstance(e.body, Progress) and e.body.phase == "measuring":
                    break
            state = await c.cancel("job-cancel")
            rest = [e async for e in stream]
            return state, rest

    state, rest = run(go())
    assert state == "cancelling"
    assert isinstance(rest[-1].body, JobFailure) and rest[-1].body.kind == "cancelled"


def test_agent_that_is_not_running_is_reported_unreachable(tmp_path):
    async def go():
        async with AgentClient(ChannelConfig("127.0.0.1:1"), call_timeout_s=2) as c:
            await c.describe()

    with pytest.raises(AgentUnreachableError, match="unreachable"):
        run(go())


def test_job_spool_survives_an_agent_restart(start_agent, tiny, tmp_path):
    home = tmp_path / "persistent-home"
    s = spec(tiny.onnx_path, "job-persist")
    first = start_agent(home=home)

    async def measure():
        async with client_for(first) as c:
            return terminal(await run_job(c, s, {s.artifact_sha256: tiny.onnx_path}))

    r1 = run(measure())
    first.stop()
    second = start_agent(home=home)

    async def replay():
        async with client_for(second) as c:
            return [e async for e in c.attach("job-persist", 0, timeout_s=30)]

    events = run(replay())
    r2 = terminal(events)
    assert isinstance(r1, JobResult) and isinstance(r2, JobResult)
    assert r2.latencies_ns == r1.latencies_ns


def test_device_side_compilation_is_cached_and_timed_apart_from_load(agent, tiny):
    first_spec = spec(tiny.onnx_path, "job-compile-1")
    second_spec = spec(tiny.onnx_path, "job-compile-2")

    async def go():
        async with client_for(agent) as c:
            files = {first_spec.artifact_sha256: tiny.onnx_path}
            first = terminal(await run_job(c, first_spec, files))
            second = terminal(await run_job(c, second_spec, files))
            return first, second

    first, second = run(go())
    assert isinstance(first, JobResult) and isinstance(second, JobResult)
    assert first.compile_ns > 0 and not first.compile_cache_hit
    assert second.compile_ns == 0 and second.compile_cache_hit
    assert list((agent.home / "compiled" / "ort-optimized").glob("*.onnx"))


def _worker_pids(job_id: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rigbench.agent.worker" in cmd and any(job_id.encode() in c for c in cmd):
            pids.append(int(proc.name))
    return pids


def test_a_worker_that_dies_mid_job_is_reported_and_the_agent_serves_on(agent, tiny):
    import os
    import signal

    long = MeasurementConfig(
        warmup_iterations=0, min_iterations=1, min_duration_s=30.0, max_duration_s=60
    )
    doomed = spec(tiny.onnx_path, "job-doomed", measurement=long)
    after = spec(tiny.onnx_path, "job-after-crash")

    async def go():
        async with client_for(agent) as c:
            await c.ensure_artifacts({doomed.artifact_sha256: tiny.onnx_path})
            events = []
            async for e in c.run(doomed, timeout_s=60):
                events.append(e)
                if isinstance(e.body, Progress) and e.body.phase == "measuring":
                    for pid in _worker_pids("job-doomed"):
                        os.kill(pid, signal.SIGKILL)  # e.g. the kernel's OOM killer
            ok = terminal([e async for e in c.run(after, timeout_s=60)])
            return terminal(events), ok

    crashed, ok = run(go())
    assert isinstance(crashed, JobFailure) and crashed.kind == "worker-crashed"
    assert "signal 9" in crashed.message
    assert isinstance(ok, JobResult)


def test_a_worker_does_not_outlive_its_agent(start_agent, tiny):
    import time

    a = start_agent()
    # A 30 s warm-up by time: the worker prints nothing meanwhile, so no broken pipe would
    # stop it either; only the kernel's parent-death signal does.
    long = MeasurementConfig(
        warmup_iterations=0, warmup_s=30.0, min_iterations=1, min_duration_s=0.0, max_duration_s=60
    )
    s = spec(tiny.onnx_path, "job-orphan", measurement=long)

    async def go():
        async with client_for(a) as c:
            await c.ensure_artifacts({s.artifact_sha256: tiny.onnx_path})
            async for e in c.run(s, timeout_s=60):
                if isinstance(e.body, Progress) and e.body.phase == "warmup":
                    return _worker_pids("job-orphan")
        return []

    workers = run(go())
    assert workers, "the worker was not found while measuring"
    a.kill()  # the agent dies; an orphaned worker would load the CPU during the next job
    deadline = time.monotonic() + 10
    while _worker_pids("job-orphan") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _worker_pids("job-orphan") == []
