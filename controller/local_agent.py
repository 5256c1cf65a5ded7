"""Start an agent as a subprocess on a free loopback port, and stop it afterwards.

The inventory's default ``local`` device is this: the controller needs no separately running
agent on the machine it runs on. Readiness is the port file plus the gRPC health check, not
a line of printed text.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.errors import AgentUnreachableError


@dataclass
class LocalAgent:
    process: subprocess.Popen[bytes]
    port: int
    home: Path
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def start_local_agent(
    home: Path,
    *,
    telemetry_root: Path | None = None,
    simulated: bool = False,
    external_meter: str | None = None,
    extra_args: list[str] | None = None,
    timeout_s: float = 60.0,
    channel_for: Callable[[str], ChannelConfig] = ChannelConfig,
) -> LocalAgent:
    """Start ``rigbench agent serve`` and wait until its health check answers.

    ``channel_for`` builds the health check's channel from the address (TLS agents need one).
    """
    home.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="port-", dir=home)
    os.close(fd)
    port_file = Path(name)
    port_file.unlink()
    log_path = home / "agent.log"
    cmd = [
        sys.executable,
        "-m",
        "rigbench",
        "agent",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--home",
        str(home),
    ]
    if telemetry_root is not None:
        cmd += ["--telemetry-root", str(telemetry_root)]
    if simulated:
        cmd.append("--simulated")
    if external_meter:
        cmd += ["--external-meter", external_meter]
    cmd += extra_args or []
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + timeout_s
    while not port_file.exists():
        if proc.poll() is not None:
            raise AgentUnreachableError(
                f"the local agent exited with code {proc.returncode} before serving; "
                f"its log: {log_path}\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AgentUnreachableError(
                f"the local agent did not start within {timeout_s:g}s; its log: {log_path}"
            )
        await asyncio.sleep(0.05)
    port = int(port_file.read_text())
    port_file.unlink(missing_ok=True)
    agent = LocalAgent(proc, port, home, log_path)
    client = AgentClient(channel_for(agent.address))
    try:
        while not await client.check_health(timeout_s=2.0):
            if time.monotonic() > deadline or proc.poll() is not None:
                agent.kill()
                raise AgentUnreachableError(
                    f"the local agent never became healthy; log: {log_path}"
                )
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return agent


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""
