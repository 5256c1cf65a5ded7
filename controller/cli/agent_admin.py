"""``rigbench agent install|upgrade|status|logs|uninstall``: agents on hosts, over SSH.

Only parsing and printing: the steps live in ``rigbench.controller.ssh.install``. Devices
are worked on in parallel; one device failing is reported and the others go on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rigbench import limits
from rigbench.controller.cli import agent_app
from rigbench.controller.cli.common import EXIT_ERROR, Format, InventoryOpt, WorkOpt, work_path
from rigbench.controller.inventory import Device, load_inventory
from rigbench.errors import InventoryError, RigbenchError, UsageError
from rigbench.reports.tables import render

if TYPE_CHECKING:
    from types import ModuleType

    from rigbench.controller.ssh import install as ops
    from rigbench.controller.ssh.wheels import LocalWheel


def _ops() -> ModuleType:
    """The SSH steps, imported when a command runs: paramiko must not slow every other command."""
    from rigbench.controller.ssh import install

    return install


class IndexMode(str, Enum):
    auto = "auto"
    online = "online"
    offline = "offline"


class ServiceMode(str, Enum):
    auto = "auto"
    system = "system"
    user = "user"
    supervisor = "supervisor"


DevicesArg = typer.Argument(None, help="inventory device names (devices with an ssh: block)")
AllOpt = typer.Option(False, "--all", help="every device with an ssh: block")
TofuOpt = typer.Option(
    False,
    "--trust-on-first-use",
    help="accept and record a host key seen for the first time (a changed key is still refused)",
)
IndexOpt = typer.Option(
    IndexMode.auto,
    "--index",
    help="online: the host's pip installs from its index; offline: ship a wheelhouse for the "
    "host's arch and Python; auto: ask the host's pip",
)
ServiceOpt = typer.Option(
    ServiceMode.auto,
    "--service",
    help="systemd system or user unit, or a supervised process (auto: systemd if PID 1 is systemd)",
)
WheelOpt = typer.Option(None, "--wheel", help="ship this rigbench wheel instead of building one")
TimeoutOpt = typer.Option(120.0, "--timeout", help="seconds to wait for the agent's health check")
ForceOpt = typer.Option(
    False, "--force", help="restart the agent for a new build even while it measures a job"
)
RefreshOpt = typer.Option(
    False, "--refresh-wheelhouse", help="download the offline wheelhouse again"
)


def select_ssh_devices(inventory: Path | None, names: list[str] | None, all_: bool) -> list[Device]:
    """The named devices, or all with ``--all``; each must have an ``ssh:`` block."""
    inv = load_inventory(inventory)
    if all_:
        chosen = [d for d in inv.devices if d.ssh is not None]
        if not chosen:
            raise InventoryError("no device in the inventory has an ssh: block")
        return chosen
    if not names:
        raise InventoryError("name the devices (rigbench agent install pi5-01 ...) or use --all")
    chosen = [inv.get(n) for n in names]
    for d in chosen:
        if d.ssh is None:
            raise InventoryError(
                f"device {d.name} uses the {d.transport} transport; agent install, status, logs "
                "and uninstall work on devices with an ssh: block"
            )
    return chosen


def _say(name: str, err: bool = False) -> ops.Say:
    return lambda msg: typer.echo(f"[{name}] {msg}", err=err)


def run_each(
    devices: list[Device],
    what: str,
    fn: Callable[[Device, ops.Say], Awaitable[object]],
    to_stderr: bool = False,
) -> list[object]:
    """Run ``fn`` for every device at once; report failures per device, exit 2 if any.

    ``to_stderr``: the steps' lines go to stderr (stdout carries JSON or CSV).
    """

    async def one(d: Device) -> object:
        try:
            return await fn(d, _say(d.name, to_stderr))
        except RigbenchError as e:
            _say(d.name, to_stderr)(f"FAILED: {e}")
            return e

    async def every() -> list[object]:
        return list(await asyncio.gather(*(one(d) for d in devices)))

    results = asyncio.run(every())
    failed = [d.name for d, r in zip(devices, results) if isinstance(r, RigbenchError)]
    if failed:
        typer.echo(
            f"{what} failed on {len(failed)} of {len(devices)} device(s): {', '.join(failed)}",
            err=True,
        )
        raise typer.Exit(EXIT_ERROR)
    return results


def local_wheel(wheel: Path | None, work: Path) -> LocalWheel:
    """Build the wheel once for all devices (or use the one given), and say so."""
    from rigbench.controller.ssh.wheels import build_wheel, inspect_wheel

    t0 = time.monotonic()
    if wheel is not None:
        w = inspect_wheel(wheel)
        typer.echo(f"wheel: using {wheel} (rigbench {w.version}, build {w.build_id})")
        return w
    dist = work / "ssh" / "dist"
    w = build_wheel(dist)
    for old in dist.iterdir():
        if old.is_dir() and old.name != w.build_id:
            shutil.rmtree(old, ignore_errors=True)
    typer.echo(
        f"wheel: built rigbench {w.version} (build {w.build_id}) from {w.path.parent.parent} "
        f"in {time.monotonic() - t0:.1f}s"
    )
    return w


def _options(
    wheel: Path | None,
    work: Path | None,
    tofu: bool,
    index: IndexMode,
    service: ServiceMode,
    timeout: float,
    refresh: bool,
    upgrade: bool,
    force: bool,
) -> ops.InstallOptions:
    limits.TIMEOUT_S.at_least(0).check("--timeout", timeout, UsageError)
    w = work_path(work)
    return _ops().InstallOptions(
        wheel=local_wheel(wheel, w),
        cache=w / "ssh" / "wheelhouse",
        trust_on_first_use=tofu,
        index=index.value,
        service=service.value,
        timeout_s=timeout,
        refresh_wheelhouse=refresh,
        upgrade=upgrade,
        force=force,
    )


@agent_app.command("install")
def install_cmd(
    devices: list[str] = DevicesArg,
    all_: bool = AllOpt,
    inventory: Path = InventoryOpt,
    work: Path = WorkOpt,
    trust_on_first_use: bool = TofuOpt,
    index: IndexMode = IndexOpt,
    service: ServiceMode = ServiceOpt,
    wheel: Path = WheelOpt,
    timeout: float = TimeoutOpt,
    refresh_wheelhouse: bool = RefreshOpt,
    force: bool = ForceOpt,
) -> None:
    """Install (or repair) the agent on hosts over SSH and wait until it is healthy.

    Verifies the host key, ships this checkout's wheel (and a wheelhouse for offline
    hosts), creates a venv, installs the runtimes the host can use, starts a systemd unit
    or a supervised process. Every step is skipped when already done.

    Example: rigbench agent install pi5-01 --trust-on-first-use
    """
    chosen = select_ssh_devices(inventory, devices, all_)
    opts = _options(
        wheel, work, trust_on_first_use, index, service, timeout, refresh_wheelhouse, False, force
    )
    run_each(chosen, "install", lambda d, say: _ops().install(d, opts, say))


@agent_app.command("upgrade")
def upgrade_cmd(
    devices: list[str] = DevicesArg,
    all_: bool = AllOpt,
    inventory: Path = InventoryOpt,
    work: Path = WorkOpt,
    index: IndexMode = IndexOpt,
    wheel: Path = WheelOpt,
    timeout: float = TimeoutOpt,
    force: bool = ForceOpt,
) -> None:
    """Ship the current build to hosts that have an agent, restart it, wait for health.

    A host that already runs this build is left alone.

    Example: rigbench agent upgrade --all
    """
    chosen = select_ssh_devices(inventory, devices, all_)
    opts = _options(wheel, work, False, index, ServiceMode.auto, timeout, False, True, force)
    run_each(chosen, "upgrade", lambda d, say: _ops().install(d, opts, say))


STATUS_COLUMNS = [
    ("device", "device"),
    ("serving", "serving"),
    ("build", "build"),
    ("service", "service"),
    ("health", "health"),
    ("sensors", "sensors"),
    ("sensor mismatch", "sensor_mismatch"),
]


@agent_app.command("status")
def status_cmd(
    devices: list[str] = DevicesArg,
    inventory: Path = InventoryOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
) -> None:
    """Installed build, service state and health of agents on SSH hosts (all by default).

    Exits 2 if any agent is not serving, or runs with other sensor settings than the
    inventory gives it (`agent install` applies them). --format json or csv prints one
    record per host on stdout (the steps go to stderr).

    Example: rigbench agent status pi5-01
    """
    chosen = select_ssh_devices(inventory, devices, not devices)
    as_data = fmt is not Format.table
    results = run_each(chosen, "status", _ops().status, to_stderr=as_data)
    if as_data:
        rows = [
            {**dataclasses.asdict(r), "build": (r.installed or {}).get("build_id")}
            for r in results
            if isinstance(r, _ops().AgentStatus)
        ]
        typer.echo(render(rows, fmt.value, STATUS_COLUMNS))
    if not all(results):
        raise typer.Exit(EXIT_ERROR)


@agent_app.command("logs")
def logs_cmd(
    device: str = typer.Argument(..., help="inventory device name"),
    inventory: Path = InventoryOpt,
    lines: int = typer.Option(100, "--lines", "-n", help="how many recent lines"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines"),
) -> None:
    """Recent agent log lines from a host (journal of the unit, or the supervisor's log).

    Example: rigbench agent logs pi5-01 -n 50
    """
    (d,) = select_ssh_devices(inventory, [device], False)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def note(msg: str) -> None:  # stderr: `agent logs X > file` keeps only the log
        typer.echo(f"[{d.name}] {msg}", err=True)

    try:
        _ops().logs(d, note, write, lines, follow)
    except KeyboardInterrupt:
        pass


@agent_app.command("uninstall")
def uninstall_cmd(
    devices: list[str] = DevicesArg,
    all_: bool = AllOpt,
    inventory: Path = InventoryOpt,
    purge: bool = typer.Option(
        False, "--purge", help="also remove the agent's artifact cache and job spool"
    ),
) -> None:
    """Stop the agent and remove its service and program files from hosts.

    The agent's data (artifact cache, job spool) stays unless --purge is given.

    Example: rigbench agent uninstall pi5-01 --purge
    """
    chosen = select_ssh_devices(inventory, devices, all_)

    async def one(d: Device, say: ops.Say) -> None:
        await asyncio.to_thread(_ops().uninstall, d, say, purge)

    run_each(chosen, "uninstall", one)
