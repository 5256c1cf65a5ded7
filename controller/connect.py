"""Reach a device's agent over the transport its inventory entry names.

``local``: the controller starts the agent itself. ``grpc``: an agent already running, with
TLS and a token when it is not on loopback. ``ssh``: a tunnel from a loopback port here to
the agent on the host's loopback, with the host key verified. Each transport returns an
``AgentClient`` plus the means to close what was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigbench import limits
from rigbench.agent.describe import DeviceDescription
from rigbench.agent.telemetry.settings import to_options
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.inventory import Device
from rigbench.controller.local_agent import LocalAgent, prestart, start_local_agent
from rigbench.errors import AgentSettingsError, AgentUnreachableError, InventoryError
from rigbench.net import is_loopback

if TYPE_CHECKING:
    from rigbench.controller.ssh.tunnel import SshTunnel


@dataclass
class Connection:
    device: Device
    client: AgentClient
    local: LocalAgent | None = None

    @property
    def local_agent_died(self) -> bool:
        return self.local is not None and not self.local.alive

    async def restart_local(self) -> None:
        """Start the local agent again after it died (same home, same lock, new port)."""
        assert self.local is not None
        await self.client.close()
        self.local = await self.local.restart()
        self.client = AgentClient(
            ChannelConfig(self.local.address), call_timeout_s=self.device.connect_timeout_s
        )


def _read_token(device: str, path: Path) -> str:
    """The bearer token: a short line of UTF-8 text (a wrong path may name /dev/zero)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limits.TOKEN_FILE_BYTES + 1)
    except OSError as e:
        raise InventoryError(f"device {device}: cannot read token_file: {e}") from e
    if len(data) > limits.TOKEN_FILE_BYTES:
        raise InventoryError(
            f"device {device}: token_file {path} is larger than "
            f"{limits.human_bytes(limits.TOKEN_FILE_BYTES)}; is it the right file?"
        )
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise InventoryError(
            f"device {device}: token_file {path} is not UTF-8 text (byte offset {e.start})"
        ) from e


def check_agent_settings(device: Device, desc: DeviceDescription) -> None:
    """Refuse an agent whose sensor settings are not the inventory's ``sensors:``.

    A local agent is started with them and an SSH-installed one gets them in its unit, so a
    difference there means the inventory changed since; a gRPC device's agent is started by
    someone else, who is told the options to give it. Measuring on regardless would leave an
    external meter silently out of the energy figure.
    """
    if desc.sensor_settings == device.sensors:
        return
    want = shlex.join(to_options(device.sensors)) or "(no --sensor options)"
    if device.ssh is not None:
        fix = f"apply the inventory's with: rigbench agent install {device.name}"
    elif device.grpc is not None:
        fix = f"restart its agent (rigbench agent serve ...) with: {want}"
    else:
        fix = f"the local agent should have been started with: {want}"
    have = ", ".join(sorted(desc.sensor_settings)) or "none"
    wanted = ", ".join(sorted(device.sensors)) or "none"
    raise AgentSettingsError(
        f"device {device.name}: its agent runs with sensor settings for {have}, the inventory's "
        f"sensors: give {wanted} (or other values); {fix}"
    )


def grpc_channel_config(device: Device) -> ChannelConfig:
    g = device.grpc
    assert g is not None
    host = g.address.rsplit(":", 1)[0].strip("[]")
    if g.tls is None and not is_loopback(host) and not g.insecure:
        raise InventoryError(
            f"device {device.name}: plaintext gRPC to {g.address} is refused; add a tls: block "
            "(and token_file), or set insecure: true to accept the risk"
        )
    token = None
    if g.token_file is not None:
        token = _read_token(device.name, g.token_file.expanduser())
        if not token:
            raise InventoryError(
                f"device {device.name}: token_file {g.token_file} is empty or blank; put the "
                "agent's bearer token in it"
            )
    if g.tls is None:
        return ChannelConfig(g.address, token=token)
    try:
        return ChannelConfig(
            g.address,
            tls_ca=g.tls.ca.expanduser().read_bytes(),
            tls_cert=g.tls.cert.expanduser().read_bytes() if g.tls.cert else None,
            tls_key=g.tls.key.expanduser().read_bytes() if g.tls.key else None,
            server_name=g.tls.server_name,
            token=token,
        )
    except OSError as e:
        raise InventoryError(f"device {device.name}: cannot read TLS file: {e}") from e


def _local_agent(device: Device, work: Path) -> tuple[Path, dict[str, Any]]:
    """The home and options of a local device's agent."""
    lt = device.local
    assert lt is not None
    return (lt.home or work / "agents" / device.name).expanduser(), {
        "telemetry_root": lt.telemetry_root,
        "simulated": lt.simulated or lt.telemetry_root is not None,
        "sensors": device.sensors,
        "timeout_s": device.connect_timeout_s * 2,
    }


def prestart_local_agents(devices: Sequence[Device], work: Path) -> None:
    """Spawn the agents of the local devices now; ``connect`` adopts them (start-up overlaps)."""
    for device in devices:
        if device.local is not None:
            home, kwargs = _local_agent(device, work)
            prestart(home, **kwargs)


@contextlib.asynccontextmanager
async def connect(
    device: Device, work: Path, on_wait: Callable[[str], None] | None = None
) -> AsyncIterator[Connection]:
    """Open the device's agent for the duration of the block.

    A local agent is started here (waiting, up to the device's ``wait_timeout_s``, while
    another run's agent holds its home; ``on_wait`` hears about it) and stopped at the end.
    """
    local: LocalAgent | None = None
    tunnel: SshTunnel | None = None
    if device.local is not None:
        home, kwargs = _local_agent(device, work)
        local = await start_local_agent(
            home, **kwargs, wait_s=device.wait_timeout_s, on_wait=on_wait
        )
        cfg = ChannelConfig(local.address)
    elif device.grpc is not None:
        cfg = grpc_channel_config(device)
    elif device.ssh is not None:
        # paramiko is imported only for devices reached over SSH.
        from rigbench.controller.ssh.tunnel import open_agent_tunnel

        tunnel = await asyncio.to_thread(open_agent_tunnel, device)
        cfg = ChannelConfig(tunnel.address)
    else:
        raise AgentUnreachableError(f"device {device.name}: no transport configured")
    conn = Connection(device, AgentClient(cfg, call_timeout_s=device.connect_timeout_s), local)
    try:
        yield conn
    finally:
        await conn.client.close()
        if conn.local is not None:
            conn.local.stop()
        if tunnel is not None:
            await asyncio.to_thread(tunnel.close)
