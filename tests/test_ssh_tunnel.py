"""The ssh transport: gRPC through a paramiko tunnel to an agent on the host's loopback.

A real sshd and a real agent process on this machine stand in for a board: the controller
connects with ``connect()`` exactly as a run does, and a job runs through the tunnel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rigbench.agent.jobs import JobResult
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.connect import connect
from rigbench.controller.inventory import Device
from rigbench.controller.local_agent import LocalAgent, start_local_agent
from rigbench.controller.ssh.session import SshSession
from rigbench.controller.ssh.tunnel import SshTunnel, open_agent_tunnel
from rigbench.digest import sha256_file
from rigbench.errors import AgentUnreachableError
from tests.builders.jobs import run_job, spec, terminal
from tests.conftest import run
from tests.sshd import Sshd, free_port, sshd_available, start_sshd

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sshd_available(), reason="needs openssh-server (apt-get install)"),
]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    s = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def host_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    """The agent 'on the host': bound to loopback, reachable only through SSH in spirit."""
    a = run(start_local_agent(tmp_path_factory.mktemp("host-agent")))
    try:
        yield a
    finally:
        a.stop()


def ssh_device(sshd: Sshd, folder: Path, agent_port: int) -> Device:
    kh = folder / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    return Device.model_validate(
        {
            "name": "box",
            "class": "x86",
            "connect_timeout_s": 10,
            "ssh": {
                "host": "127.0.0.1",
                "port": sshd.port,
                "user": sshd.user,
                "key_file": str(sshd.user_key),
                "known_hosts": str(kh),
                "agent_port": agent_port,
            },
        }
    )


def test_a_job_runs_through_the_ssh_tunnel(sshd, host_agent, tiny, tmp_path):
    dev = ssh_device(sshd, tmp_path, host_agent.port)
    s = spec(tiny.onnx_path, "ssh-job-1")

    async def go():
        async with connect(dev, tmp_path) as conn:
            assert conn.client.address != host_agent.address  # the tunnel's local end
            desc = await conn.client.describe()
            events = await run_job(conn.client, s, {s.artifact_sha256: tiny.onnx_path})
            again = await conn.client.missing([sha256_file(tiny.onnx_path)])
            return desc, events, again

    desc, events, again = run(go())
    assert desc.protocol_version == "v1"
    result = terminal(events)
    assert isinstance(result, JobResult) and len(result.latencies_ns) >= 20
    assert again == []  # the upload went through and is cached on the host


def test_no_agent_on_the_host_is_unreachable_with_a_hint(sshd, tmp_path):
    dev = ssh_device(sshd, tmp_path, free_port())

    async def go():
        async with connect(dev, tmp_path):
            pass

    with pytest.raises(AgentUnreachableError, match="no agent listens.*rigbench agent install box"):
        run(go())


def test_the_tunnel_reconnects_after_the_ssh_connection_dies(sshd, host_agent, tmp_path):
    dev = ssh_device(sshd, tmp_path, host_agent.port)
    tunnel = open_agent_tunnel(dev)

    async def describe_until_ok(c: AgentClient, timeout_s: float) -> int:
        failures, deadline = 0, time.monotonic() + timeout_s
        while True:
            try:
                await c.describe()
                return failures
            except AgentUnreachableError:
                failures += 1
                if time.monotonic() > deadline:
                    raise

    async def go():
        async with AgentClient(ChannelConfig(tunnel.address), call_timeout_s=3) as c:
            assert await describe_until_ok(c, 5) == 0
            assert sshd.kill_sessions() >= 1  # the board 'reboots' under an open channel
            await describe_until_ok(c, 20)

    try:
        run(go())
        assert tunnel.reconnects == 1
    finally:
        tunnel.close()


def test_a_refused_channel_is_an_answer_not_noise(sshd, tmp_path, caplog, capfd):
    """What an install sees while waiting for the agent: refusals, and nothing printed."""
    dev = ssh_device(sshd, tmp_path, free_port())
    session = SshSession.open(dev)
    tunnel = SshTunnel(lambda: session, dev.ssh.agent_port, session)
    try:
        with caplog.at_level(logging.DEBUG, logger="paramiko"):
            assert [tunnel.probe() for _ in range(3)] == [False, False, False]
    finally:
        tunnel.close()
    assert not [r for r in caplog.records if "open FAILED" in r.getMessage()]
    assert "open FAILED" not in capfd.readouterr().err
