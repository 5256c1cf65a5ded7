"""Start an agent as a subprocess on a free loopback port, and stop it afterwards.

The inventory's default ``local`` device is this: the controller needs no separately running
agent on the machine it runs on. Readiness is the port file plus the gRPC health check, not
a line of printed text.

The agent lives no longer than its controller (it watches the controller's pid), and one
agent serves one home: the controller takes the home's lock before starting it (waiting while
another run's agent holds it, so two runs on one machine queue instead of measuring at the
same time) and hands the lock to the agent. A local agent that dies mid-run is started again
on the same lock (``restart``).

Starting an agent costs a Python start-up and its imports (a few hundred ms). A command that
knows early which local agent it will need (``rigbench bench``) calls ``prestart``: the process
is spawned at once, and starts while the controller loads the model and the store; the later
``start_local_agent`` for the same home adopts it. One that is never adopted is killed when the
command ends (``discard_unadopted``), or at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigbench.agent.lifetime import holder, open_lock, try_lock
from rigbench.agent.telemetry.base import SensorSettings
from rigbench.agent.telemetry.settings import to_options
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.errors import AgentUnreachableError, DeviceBusyError


@dataclass
class LocalAgent:
    process: subprocess.Popen[bytes]
    port: int
    home: Path
    log_path: Path
    lock_fd: int | None = None  # the home's lock, held with the agent until it stops
    restart_args: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._unlock()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._unlock()

    def _unlock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    async def restart(self) -> LocalAgent:
        """A new agent on the same home and lock, after this one died; returns it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        fd, self.lock_fd = self.lock_fd, None
        return await start_local_agent(self.home, **(self.restart_args or {}), lock_fd=fd)


async def lock_home(home: Path, wait_s: float, on_wait: Callable[[str], None] | None = None) -> int:
    """Take the home's lock for a local agent, waiting up to ``wait_s`` while another run's
    agent holds it; returns the locked descriptor.
    """
    fd = open_lock(home)
    deadline = time.monotonic() + wait_s
    told = False
    while not try_lock(fd):
        if time.monotonic() >= deadline:
            os.close(fd)
            raise DeviceBusyError(
                f"the local agent of {home} is held by {holder(home)} (another rigbench run) "
                f"for more than {wait_s:g} s (wait_timeout_s)"
            )
        if not told and on_wait is not None:
            on_wait(f"waiting for another run's local agent ({holder(home)}) to finish with {home}")
            told = True
        await asyncio.sleep(0.2)
    return fd


@dataclass
class _Spawned:
    """An agent process spawned by ``prestart``, not yet adopted."""

    process: subprocess.Popen[bytes]
    port_file: Path
    log_path: Path
    lock_fd: int
    restart_args: dict[str, Any]


_early: dict[Path, _Spawned] = {}


def prestart(
    home: Path,
    *,
    telemetry_root: Path | None = None,
    simulated: bool = False,
    sensors: SensorSettings | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Spawn the local agent of ``home`` now, without waiting for it to serve.

    Best effort: when the home is held by another run, or anything else is in the way, nothing
    is spawned and ``start_local_agent`` does the usual (waiting, reporting) later.
    """
    args = _restart_args(telemetry_root, simulated, sensors, None, timeout_s, ChannelConfig)
    key = home.resolve()
    if key in _early:
        return
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = open_lock(home)
    except OSError:
        return
    if not try_lock(fd):
        os.close(fd)
        return
    try:
        process, port_file, log_path = _spawn(home, fd, args)
    except OSError:
        os.close(fd)
        return
    if not _early:
        atexit.register(discard_unadopted)
    _early[key] = _Spawned(process, port_file, log_path, fd, args)


def discard_unadopted() -> None:
    """Kill the agents ``prestart`` spawned that no run adopted, and free their homes.

    Called when the command that spawned them ends, however it ends (a bad input found after
    the spawn); at exit too, for a process that never gets that far.
    """
    for spawned in _early.values():
        if spawned.process.poll() is None:
            spawned.process.kill()
            spawned.process.wait()
        os.close(spawned.lock_fd)
    _early.clear()


def _adopt(home: Path, restart_args: dict[str, Any]) -> _Spawned | None:
    """The agent ``prestart`` spawned for this home with these arguments, if still alive."""
    spawned = _early.pop(home.resolve(), None)
    if spawned is None:
        return None
    same = {k: v for k, v in spawned.restart_args.items() if k != "channel_for"} == {
        k: v for k, v in restart_args.items() if k != "channel_for"
    }
    if same and spawned.process.poll() is None:
        return spawned
    if spawned.process.poll() is None:
        spawned.process.kill()
        spawned.process.wait()
    os.close(spawned.lock_fd)
    return None


def _restart_args(
    telemetry_root: Path | None,
    simulated: bool,
    sensors: SensorSettings | None,
    extra_args: list[str] | None,
    timeout_s: float,
    channel_for: Callable[[str], ChannelConfig],
) -> dict[str, Any]:
    return {
        "telemetry_root": telemetry_root,
        "simulated": simulated,
        "sensors": sensors or {},
        "extra_args": extra_args,
        "timeout_s": timeout_s,
        "channel_for": channel_for,
    }


async def start_local_agent(
    home: Path,
    *,
    telemetry_root: Path | None = None,
    simulated: bool = False,
    sensors: SensorSettings | None = None,
    extra_args: list[str] | None = None,
    timeout_s: float = 60.0,
    channel_for: Callable[[str], ChannelConfig] = ChannelConfig,
    lock_fd: int | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> LocalAgent:
    """Start ``rigbench agent serve`` and wait until its health check answers.

    ``channel_for`` builds the health check's channel from the address (TLS agents need one).
    The home's lock is taken first (waiting up to ``wait_s`` for another run's agent), unless
    ``lock_fd`` already holds it; the agent stops when this process exits.
    """
    restart_args = _restart_args(
        telemetry_root, simulated, sensors, extra_args, timeout_s, channel_for
    )
    if lock_fd is None and (spawned := _adopt(home, restart_args)) is not None:
        try:
            return await _ready(home, spawned.lock_fd, restart_args, spawned.process,
                                spawned.port_file, spawned.log_path)  # fmt: skip
        except BaseException:
            os.close(spawned.lock_fd)
            raise
    home.mkdir(parents=True, exist_ok=True)
    if lock_fd is None:
        lock_fd = await lock_home(home, wait_s, on_wait)
    try:
        return await _start(home, lock_fd, restart_args)
    except BaseException:
        os.close(lock_fd)
        raise


async def _start(home: Path, lock_fd: int, restart_args: dict[str, Any]) -> LocalAgent:
    process, port_file, log_path = _spawn(home, lock_fd, restart_args)
    return await _ready(home, lock_fd, restart_args, process, port_file, log_path)


def _spawn(
    home: Path, lock_fd: int, restart_args: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start ``rigbench agent serve`` for ``home`` (holding ``lock_fd``); do not wait for it."""
    telemetry_root = restart_args["telemetry_root"]
    simulated = restart_args["simulated"]
    sensors = restart_args["sensors"]
    extra_args = restart_args["extra_args"]
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
        "--parent-pid",
        str(os.getpid()),
        "--home-lock-fd",
        str(lock_fd),
    ]
    if telemetry_root is not None:
        cmd += ["--telemetry-root", str(telemetry_root)]
    if simulated:
        cmd.append("--simulated")
    cmd += to_options(sensors)
    cmd += extra_args or []
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        pass_fds=(lock_fd,),
    )
    log.close()
    return proc, port_file, log_path


async def _ready(
    home: Path,
    lock_fd: int,
    restart_args: dict[str, Any],
    proc: subprocess.Popen[bytes],
    port_file: Path,
    log_path: Path,
) -> LocalAgent:
    """Wait until the spawned agent wrote its port and answers its health check."""
    timeout_s = restart_args["timeout_s"]
    channel_for = restart_args["channel_for"]
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
    agent = LocalAgent(proc, port, home, log_path, None, restart_args)
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
    agent.lock_fd = lock_fd
    return agent


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""
