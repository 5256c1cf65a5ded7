"""Many devices, failures and resumption, with real agent and controller processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import duckdb
import pytest

from rigbench.agent.jobs import (
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.digest import sha256_file
from rigbench.errors import DeviceBusyError
from tests.builders.processes import controller, query, wait_for_line, write_inventory, write_plan
from tests.conftest import client_for, run

pytestmark = pytest.mark.e2e


def test_devices_run_in_parallel_and_an_unreachable_one_blocks_no_other(tmp_path, start_agent):
    a, b = start_agent(), start_agent()
    inv = write_inventory(
        tmp_path / "inv.yaml", {"a": a.address, "b": b.address, "dead": "127.0.0.1:1"}
    )
    plan = write_plan(tmp_path / "plan.yaml", ["fp32"], min_duration_s=1.5)
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv), "--quiet")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out  # the farm failed (one device), the others' results stored
    assert "dead cnn/fp32 on ort: unreachable (a farm failure)" in out
    assert "nothing listens at 127.0.0.1:1 (connection refused" in out
    rows = query(
        tmp_path,
        "SELECT device, started_at, finished_at FROM jobs WHERE status = 'done' ORDER BY device",
    )
    assert [r[0] for r in rows] == ["a", "b"]
    (_, a_start, a_end), (_, b_start, b_end) = rows
    assert a_start < b_end and b_start < a_end  # the two jobs overlapped in time
    assert query(tmp_path, "SELECT status, error_kind FROM jobs WHERE device = 'dead'") == [
        ("failed", "unreachable")
    ]


def test_an_agent_killed_mid_job_is_retried_when_it_comes_back(tmp_path, start_agent):
    home = tmp_path / "agent-home"
    first = start_agent(home=home)
    inv = write_inventory(tmp_path / "inv.yaml", {"board": first.address})
    plan = write_plan(tmp_path / "plan.yaml", ["fp32"], min_duration_s=3.0)
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    wait_for_line(proc, r"loading|warmup|measuring")  # the job runs (progress may skip)
    first.kill()  # the board loses power mid-job
    start_agent("--port", str(first.port), home=home)  # ... and its supervisor restarts it
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert query(tmp_path, "SELECT status, attempts FROM jobs") == [("done", 2)]
    assert query(tmp_path, "SELECT count(*) FROM results") == [(1,)]


@pytest.mark.parametrize("when", ["still running", "finished"])
def test_a_killed_controller_resumes_and_stores_each_result_once(tmp_path, start_agent, when):
    agent = start_agent()
    inv = write_inventory(tmp_path / "inv.yaml", {"board": agent.address})
    plan = write_plan(tmp_path / "plan.yaml", ["fp32", "ort-basic"], min_duration_s=2.0)
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    seen = wait_for_line(proc, r"loading|warmup|measuring")  # the job runs (progress may skip)
    run_id = re.search(r"run (\S+): plan", "".join(seen)).group(1)  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)  # the controller dies; the agent measures on
    proc.wait()
    assert query(tmp_path, "SELECT count(*) FROM results") == [(0,)]
    busy = run(busy_job(agent))
    assert busy  # the orphaned job is still measuring on the agent
    if when == "finished":
        run(wait_idle(agent))  # it ends into the agent's spool
    resumed = controller(tmp_path, "run", "--resume", run_id, "--inventory", str(inv))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    if when == "finished":
        assert "replayed from the agent's spool" in out
    rows = query(tmp_path, "SELECT variant, count(*) FROM results GROUP BY variant ORDER BY 1")
    assert rows == [("fp32", 1), ("ort-basic", 1)]  # every result exactly once
    assert query(tmp_path, "SELECT count(*) FROM jobs WHERE status <> 'done'") == [(0,)]
    attempts = dict(query(tmp_path, "SELECT variant, attempts FROM jobs"))
    assert 1 in attempts.values()  # the job measured before the kill was not measured again
    assert query(tmp_path, f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [("finished",)]


async def busy_job(agent) -> str:
    async with client_for(agent) as c:
        return (await c.describe()).busy_job_id


async def wait_idle(agent) -> None:
    """Wait for the agent's running job to end, by following its events to the end."""
    async with client_for(agent) as c:
        job = (await c.describe()).busy_job_id
        if job:
            [e async for e in c.attach(job, 0, timeout_s=120)]


def test_a_lease_refuses_another_holder_until_it_lapses(agent, tiny):
    digest = sha256_file(tiny.onnx_path)
    quick = MeasurementConfig(warmup_iterations=0, min_iterations=5, min_duration_s=0.0)

    def spec(job_id: str, holder: str) -> JobSpec:
        return JobSpec(
            job_id=job_id,
            artifact_sha256=digest,
            model_format="onnx",
            runtime=RuntimeConfig("onnxruntime", intra_op_threads=1),
            measurement=quick,
            telemetry=TelemetryConfig(enabled=False),
            lease_holder=holder,
            lease_ttl_s=2.0,
        )

    async def go():
        async with client_for(agent) as c:
            await c.ensure_artifacts({digest: tiny.onnx_path})
            [e async for e in c.run(spec("l1", "controller A"), timeout_s=60)]
            with pytest.raises(DeviceBusyError, match="leased by controller A"):
                [e async for e in c.run(spec("l2", "controller B"), timeout_s=60)]
            same = [e async for e in c.run(spec("l3", "controller A"), timeout_s=60)]
            # B is refused until A's lease lapses (2 s after A's last job; exactly so in
            # tests/test_lease.py's clock): ask until it is let in.
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                try:
                    later = [e async for e in c.run(spec("l4", "controller B"), timeout_s=60)]
                    break
                except DeviceBusyError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            return same[-1].body, later[-1].body

    same, later = run(go())
    assert isinstance(same, JobResult) and isinstance(later, JobResult)


def test_tokens_never_reach_the_store_or_the_output(tmp_path, start_agent):
    token = "tok-9f8e7d6c5b4a"
    (tmp_path / "token").write_text(token)
    agent = start_agent("--token-file", str(tmp_path / "token"))
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, {"board": agent.address}, extra="\n    # token below\n")
    text = inv.read_text().replace(
        f"grpc: {{address: '{agent.address}'}}",
        f"grpc: {{address: '{agent.address}', token_file: '{tmp_path / 'token'}'}}",
    )
    inv.write_text(text)
    plan = write_plan(tmp_path / "plan.yaml", ["fp32"])
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert token not in out
    assert token not in agent.log_path.read_text()
    con = duckdb.connect(str(tmp_path / "rb.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for t in tables:
            dump = str(con.execute(f"SELECT * FROM {t}").fetchall())
            assert token not in dump, t
    finally:
        con.close()


def test_a_refused_token_fails_the_device_at_once_not_after_its_connect_timeout(
    tmp_path, start_agent
):
    (tmp_path / "token").write_text("the-right-token")
    (tmp_path / "wrong").write_text("a-wrong-token")
    agent = start_agent("--token-file", str(tmp_path / "token"))
    inv = write_inventory(tmp_path / "inv.yaml", {"board": agent.address})
    inv.write_text(
        inv.read_text()
        .replace("connect_timeout_s: 5", "connect_timeout_s: 600")
        .replace(
            f"grpc: {{address: '{agent.address}'}}",
            f"grpc: {{address: '{agent.address}', token_file: '{tmp_path / 'wrong'}'}}",
        )
    )
    plan = write_plan(tmp_path / "plan.yaml", ["fp32"])
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    out, _ = proc.communicate(timeout=120)  # retrying would wait the 600 s connect timeout
    assert proc.returncode != 0, out
    assert "refused the credentials" in out
    assert query(tmp_path, "SELECT status, error_kind FROM jobs") == [("failed", "unreachable")]


def test_a_device_that_keeps_failing_is_quarantined_and_its_other_jobs_skipped(
    tmp_path, start_agent
):
    agent = start_agent()
    inv = write_inventory(tmp_path / "inv.yaml", {"flaky": agent.address})
    inv.write_text(inv.read_text().replace("connect_timeout_s: 5", "connect_timeout_s: 1"))
    plan = write_plan(
        tmp_path / "plan.yaml", ["fp32", "ort-basic", "ort-extended", "fp16"], min_duration_s=2.0
    )
    plan.write_text(plan.read_text().replace("retries: 2", "retries: 0"))
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    wait_for_line(proc, r"started")
    agent.kill()  # gone for good: every job now fails for infrastructure reasons
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out  # the farm failed
    assert "quarantined after 3 farm failures in a row" in out
    kinds = sorted(r[0] for r in query(tmp_path, "SELECT error_kind FROM jobs"))
    assert kinds == ["quarantined", "unreachable", "unreachable", "unreachable"]


def test_an_agent_speaking_another_protocol_version_is_refused(tmp_path):
    import grpc

    from rigbench.controller.client import AgentClient, ChannelConfig
    from rigbench.errors import ProtocolMismatchError
    from rigbench.v1 import agent_pb2 as pb
    from rigbench.v1 import agent_pb2_grpc as pb_grpc

    class FutureAgent(pb_grpc.AgentServicer):
        async def Describe(self, request, context):  # noqa: N802 - gRPC method name
            return pb.DeviceDescription(protocol_version="v2", agent_version="9.0")

    async def go():
        server = grpc.aio.server()
        pb_grpc.add_AgentServicer_to_server(FutureAgent(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with AgentClient(ChannelConfig(f"127.0.0.1:{port}")) as c:
                await c.describe()
        finally:
            await server.stop(None)

    with pytest.raises(
        ProtocolMismatchError, match="speaks protocol v2, this controller speaks v1"
    ):
        run(go())


def test_an_artifact_evicted_by_the_agents_cache_is_uploaded_again(tmp_path, start_agent):
    # The small CNN is 1.5 MB as fp32 and 0.76 MB as fp16: a 1.8 MB cache holds one of them.
    agent = start_agent("--max-cache-mb", "1.8")
    inv = write_inventory(tmp_path / "inv.yaml", {"board": agent.address})
    plan = write_plan(tmp_path / "plan.yaml", ["fp32", "fp16"])
    plan.write_text(plan.read_text().replace("size: tiny", "size: small"))
    proc = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert query(tmp_path, "SELECT variant, status FROM jobs ORDER BY variant") == [
        ("fp16", "done"),
        ("fp32", "done"),
    ]
