"""Install, upgrade, inspect and remove an agent on a host over SSH.

Every step first looks at what is there and says what it did: "venv exists, skipped",
"wheel uploaded", "supervisor restarted". Running ``install`` twice changes nothing the
second time. The host keeps a small ``state.json`` (versions, extras, service kind; never a
key, token or password) so ``status``, ``logs``, ``upgrade`` and ``uninstall`` act on what
was actually installed.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rigbench.agent.describe import DeviceDescription
from rigbench.agent.telemetry.settings import to_options
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.connect import check_agent_settings
from rigbench.controller.inventory import Device, SshTransport
from rigbench.controller.ssh.errors import SshError
from rigbench.controller.ssh.probe import HostFacts, probe_host
from rigbench.controller.ssh.service import (
    ServiceKind,
    choose_service,
    install_supervisor,
    install_systemd,
    logs_script,
    remove_boot_entry,
    service_status,
    stop_supervisor,
    stop_systemd,
)
from rigbench.controller.ssh.session import SshSession
from rigbench.controller.ssh.tunnel import SshTunnel
from rigbench.controller.ssh.units import (
    RemoteLayout,
    resolve_install_dir,
    serve_options,
    service_name,
)
from rigbench.controller.ssh.wheels import LocalWheel, Wheelhouse, build_wheelhouse
from rigbench.digest import sha256_file
from rigbench.errors import AgentSettingsError, AgentUnreachableError, RigbenchError

Say = Callable[[str], None]


def _auto_extras() -> tuple[str, ...]:
    from rigbench.agent.runtimes import descriptors

    return tuple(d.extra for d in descriptors().values() if d.install_by_default)


# The runtimes every board is offered (each may fail where it has no wheel); others on request.
AUTO_EXTRAS = _auto_extras()
PIP_ENV = "PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off"
PIP_TIMEOUT_S = 1800.0
INDEX_CHOICES = ("auto", "online", "offline")


@dataclass
class InstallOptions:
    wheel: LocalWheel
    cache: Path  # wheelhouses built on the controller, per platform
    trust_on_first_use: bool = False
    index: str = "auto"  # auto: ask the host's pip whether it reaches its index
    service: str = "auto"
    timeout_s: float = 120.0  # for the health check after (re)starting
    refresh_wheelhouse: bool = False
    upgrade: bool = False  # refuse a host that has no install yet
    force: bool = False  # restart an agent even while it measures a job


@dataclass
class Host:
    """One connected host and what the steps learn about it on the way."""

    device: Device
    ssh: SshTransport
    session: SshSession
    facts: HostFacts
    layout: RemoteLayout
    say: Say
    state: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _q(s: str) -> str:
    return shlex.quote(s)


# --- connecting -------------------------------------------------------------------------------
def connect_host(device: Device, say: Say, trust_on_first_use: bool | None = None) -> Host:
    """Open SSH (host key checked), probe the host, read its install state."""
    ssh = device.ssh
    if ssh is None:
        raise SshError(
            f"device {device.name} has no ssh: block in the inventory; agents are installed "
            "over SSH"
        )
    session = SshSession.open(device, trust_on_first_use=trust_on_first_use)
    try:
        say(f"ssh: {ssh.user}@{ssh.host}:{ssh.port}, {session.host_key_note}")
        facts = probe_host(session)
        layout = RemoteLayout(resolve_install_dir(ssh.install_dir, facts.home))
        host = Host(device, ssh, session, facts, layout, say)
        host.state = read_state(host)
    except BaseException:
        session.close()
        raise
    return host


def read_state(host: Host) -> dict[str, Any] | None:
    text = host.session.read_text(host.layout.state)
    if text is None:
        return None
    try:
        state = json.loads(text)
    except ValueError:
        host.say(f"state: {host.layout.state} is unreadable, treating the host as not installed")
        return None
    return state if isinstance(state, dict) else None


def write_state(host: Host, state: dict[str, Any]) -> None:
    host.session.write_text(host.layout.state, json.dumps(state, indent=2, sort_keys=True) + "\n")
    host.state = state


# --- package steps ----------------------------------------------------------------------------
def ensure_folder(host: Host) -> None:
    lay, q = host.layout, _q
    if lay.root in ("/", host.facts.home) or lay.root.count("/") < 2:
        raise SshError(f"install_dir {lay.root!r} is too broad; use a folder of its own")
    r = host.session.run(
        f"if [ -f {q(lay.marker)} ]; then echo ours; "
        f'elif [ -d {q(lay.root)} ] && [ -n "$(ls -A {q(lay.root)})" ]; then echo foreign; '
        "else echo new; fi",
        what="install folder check",
    )
    kind = r.stdout.strip()
    if kind == "foreign":
        raise SshError(
            f"{lay.root} on the host exists, is not empty and was not made by rigbench; "
            "choose another ssh.install_dir"
        )
    host.session.run(
        f"mkdir -p {q(lay.wheels)} {q(lay.home)} && touch {q(lay.marker)}",
        what="create install folder",
    )
    host.say(f"folder: {lay.root} " + ("exists, skipped" if kind == "ours" else "created"))


def ensure_venv(host: Host) -> bool:
    """A virtualenv for the host's Python; recreated if that Python changed. True if new."""
    lay, facts = host.layout, host.facts
    r = host.session.run(
        f"[ -x {_q(lay.python)} ] && {_q(lay.python)} -c "
        "'import sys; print(\"%d.%d\" % sys.version_info[:2])'",
        check=False,
    )
    have = r.stdout.strip() if r.rc == 0 else ""
    if have == facts.python_short:
        host.say(f"venv: {lay.venv} exists (Python {have}), skipped")
        return False
    if have or host.session.remote_size(lay.venv) is not None:
        host.session.run(f"rm -rf {_q(lay.venv)}", what="remove old venv")
    host.session.run(
        f"{_q(facts.python_executable)} -m venv {_q(lay.venv)}", what="create venv", timeout_s=300
    )
    host.say(
        f"venv: {lay.venv} "
        + (f"was Python {have}, recreated for {facts.python_short}" if have else "created")
        + f" with {facts.python_executable}"
    )
    return True


def decide_index(host: Host, requested: str) -> bool:
    """True when the host installs from a shipped wheelhouse (no package index)."""
    if host.ssh.wheelhouse is not None:
        host.say(f"index: offline, using the prepared wheelhouse {host.ssh.wheelhouse}")
        return True
    if requested in ("online", "offline"):
        host.say(f"index: {requested} (as asked)")
        return requested == "offline"
    r = host.session.run(
        f"{PIP_ENV} {_q(host.layout.python)} -m pip index versions pip --retries 0 --timeout 5",
        check=False,
        timeout_s=60,
    )
    if r.rc == 0:
        host.say("index: pip on the host reaches its package index")
        return False
    host.say("index: the host cannot reach a package index; shipping a wheelhouse")
    return True


def wanted_extras(host: Host) -> tuple[list[str], bool]:
    """The runtimes to try, and whether the inventory asked for them (then all must work)."""
    if host.ssh.extras is not None:
        return list(host.ssh.extras), True
    extras = list(AUTO_EXTRAS)
    if host.facts.nvidia:
        extras.append("nvml")
    return extras, False


def ship_wheel(host: Host, wheel: LocalWheel) -> str:
    """Upload the wheel unless the same bytes are already there; drop other builds."""
    folder = posixpath.join(host.layout.wheels, wheel.build_id)
    remote = posixpath.join(folder, wheel.path.name)
    s = host.session
    same_size = s.remote_size(remote) == wheel.path.stat().st_size
    if same_size and s.remote_sha256(remote) == sha256_file(wheel.path):
        host.say(f"wheel: build {wheel.build_id} already on the host, skipped")
    else:
        s.run(f"mkdir -p {_q(folder)}", what="wheel folder")
        s.put(wheel.path, remote)
        host.say(f"wheel: uploaded {wheel.path.name} (build {wheel.build_id})")
    r = s.run(
        f"cd {_q(host.layout.wheels)} && for d in */; do d=${{d%/}}; "
        f'[ "$d" = {_q(wheel.build_id)} ] || {{ rm -rf "$d" && echo "$d"; }}; done',
        check=False,
    )
    if old := r.stdout.split():
        host.say(f"wheel: removed {len(old)} older build(s)")
    return remote


def ship_wheelhouse(host: Host, opts: InstallOptions, extras: list[str]) -> Wheelhouse:
    """Wheels for the host's platform: the inventory's prepared folder, or built here."""
    f = host.facts
    if host.ssh.wheelhouse is not None:
        path = host.ssh.wheelhouse.expanduser()
        if not path.is_dir():
            raise SshError(f"device {host.device.name}: wheelhouse {path} is not a folder")
        wh = Wheelhouse(path, {})
    else:
        wh = build_wheelhouse(
            opts.wheel,
            platform_key=f.platform_key,
            arch=f.arch,
            libc=f.libc,
            libc_version=f.libc_version,
            python_short=f.python_short,
            extras=extras,
            cache=opts.cache,
            say=host.say,
            refresh=opts.refresh_wheelhouse,
        )
    s = host.session
    s.run(f"mkdir -p {_q(host.layout.wheelhouse)}", what="wheelhouse folder")
    there = {a.filename: a.st_size for a in s.sftp.listdir_attr(host.layout.wheelhouse)}
    todo = [p for p in wh.files() if there.get(p.name) != p.stat().st_size]
    t0, nbytes = time.monotonic(), 0
    for p in todo:
        s.put(p, posixpath.join(host.layout.wheelhouse, p.name))
        nbytes += p.stat().st_size
    kept = len(wh.files()) - len(todo)
    if todo:
        dt = time.monotonic() - t0
        host.say(
            f"wheelhouse: shipped {len(todo)} wheel(s), {nbytes / 1e6:.1f} MB in {dt:.1f}s "
            f"({nbytes / 1e6 / max(dt, 1e-6):.0f} MB/s); {kept} already on the host"
        )
    else:
        host.say(f"wheelhouse: all {kept} wheel(s) already on the host, skipped")
    return wh


def _pip(host: Host, args: str, offline: bool, what: str, check: bool = True) -> Any:
    index = f"--no-index --find-links {_q(host.layout.wheelhouse)} " if offline else ""
    return host.session.run(
        f"{PIP_ENV} {_q(host.layout.python)} -m pip install -q {index}{args}",
        check=check,
        timeout_s=PIP_TIMEOUT_S,
        what=what,
    )


def install_package(host: Host, opts: InstallOptions) -> bool:
    """Folder, venv, wheel(house), pip: returns True if the installed build changed."""
    ensure_folder(host)
    new_venv = ensure_venv(host)
    extras, required = wanted_extras(host)
    st = host.state or {}
    if (
        not new_venv
        and st.get("build_id") == opts.wheel.build_id
        and sorted(st.get("extras_tried", [])) == sorted(extras)
    ):
        host.say(
            f"package: rigbench {opts.wheel.version} build {opts.wheel.build_id} with "
            f"{', '.join(st.get('extras_installed', [])) or 'no runtimes'} already installed, "
            "skipped"
        )
        host.notes["offline"] = st.get("offline", False)
        host.notes["extras_installed"] = st.get("extras_installed", [])
        host.notes["extras_unavailable"] = st.get("extras_unavailable", {})
        return False
    index = opts.index
    if opts.upgrade and index == "auto" and "offline" in st:
        index = "offline" if st["offline"] else "online"  # as it was installed
    offline = decide_index(host, index)
    remote_wheel = ship_wheel(host, opts.wheel)
    unavailable: dict[str, str] = {}
    if offline:
        unavailable.update(ship_wheelhouse(host, opts, extras).unavailable)
    w = _q(remote_wheel)
    if not new_venv:  # same version number, new build: pip would call it "satisfied"
        _pip(host, f"--force-reinstall --no-deps {w}", offline, "pip install rigbench")
    for extra in extras:
        if extra in unavailable:
            host.say(f"extra {extra}: no wheels for {host.facts.platform_key}, skipped")
    tryable = [e for e in extras if e not in unavailable]
    installed: list[str] = []
    spec = _q(f"{remote_wheel}[{','.join(tryable)}]") if tryable else w
    if _pip(host, spec, offline, "pip install", check=False).rc == 0:
        installed = tryable
        host.say(f"pip: agent dependencies installed, runtimes {', '.join(installed) or 'none'}")
    else:  # one runtime without wheels here must not cost the others: one at a time
        _pip(host, w, offline, "pip install the agent's dependencies")
        host.say("pip: agent dependencies installed")
        for extra in tryable:
            r = _pip(host, _q(f"{remote_wheel}[{extra}]"), offline, f"pip [{extra}]", False)
            if r.rc == 0:
                installed.append(extra)
                host.say(f"extra {extra}: installed")
            else:
                unavailable[extra] = r.tail(300).splitlines()[-1]
                host.say(f"extra {extra}: not installable here: {unavailable[extra]}")
    missing = [e for e in extras if e not in installed]
    if required and missing:
        raise SshError(
            f"device {host.device.name}: the inventory asks for extras {', '.join(missing)}, "
            f"which cannot be installed on {host.facts.platform_key}: "
            + "; ".join(f"{e}: {unavailable.get(e, '?')}" for e in missing)
        )
    host.session.run(
        f"{_q(host.layout.python)} -c 'import rigbench.agent.server'",
        what="import check of the installed agent",
    )
    was = st.get("build_id")
    host.say(
        f"package: rigbench {opts.wheel.version} build {opts.wheel.build_id} installed"
        + (f" (was build {was})" if was and was != opts.wheel.build_id else "")
    )
    host.notes.update(
        offline=offline,
        extras_installed=installed,
        extras_unavailable=unavailable,
        extras_tried=extras,
    )
    return True


# --- service ----------------------------------------------------------------------------------
def install_service(host: Host, opts: InstallOptions, changed: bool) -> ServiceKind:
    st = host.state or {}
    # An upgrade keeps the kind of service the host was installed with.
    requested = st.get("service", opts.service) if opts.upgrade else opts.service
    choice = choose_service(host.facts, requested)
    port = host.ssh.agent_port
    old = (host.state or {}).get("service")
    if old and old != choice.kind:
        host.say(f"service: switching from {old} to {choice.kind}")
        host.say("service: " + stop_any(host, old))
    host.say(
        f"service: {choice.kind}, as installed" if opts.upgrade else f"service: {choice.reason}"
    )

    def say(msg: str) -> None:
        host.say(f"service: {msg}")

    # The inventory's recorded root (ssh block) and sensor settings reach the agent here.
    extra = serve_options(host.ssh.telemetry_root, host.ssh.simulated)
    extra += to_options(host.device.sensors)
    if choice.kind == "supervisor":
        install_supervisor(host.session, host.facts, host.layout, port, changed, say, extra)
    else:
        install_systemd(
            host.session, host.facts, host.layout, choice.kind, port, changed, say, extra
        )
    return choice.kind


def stop_any(host: Host, kind: str) -> str:
    """Stop the service for good (uninstall, or a switch to another kind of service)."""
    if kind == "supervisor":
        stopped = stop_supervisor(host.session, host.layout)
        if not host.facts.crontab:
            return stopped
        return f"{stopped}; {remove_boot_entry(host.session, host.layout)}"
    if kind in ("system", "user"):
        return stop_systemd(host.session, host.facts, kind, host.ssh.agent_port)  # type: ignore[arg-type]
    return f"unknown service kind {kind!r}, nothing stopped"


# --- health -----------------------------------------------------------------------------------
async def wait_healthy(host: Host, timeout_s: float) -> tuple[float, DeviceDescription]:
    """Health through an SSH tunnel, as the controller will see it: (seconds, description).

    The port is probed over SSH first, so gRPC's reconnect backoff never adds to the wait.
    """
    t0 = time.monotonic()
    tunnel = SshTunnel(lambda: host.session, host.ssh.agent_port, host.session, False)
    try:
        while not await asyncio.to_thread(tunnel.probe):
            if time.monotonic() - t0 > timeout_s:
                raise _not_healthy(host, timeout_s, "nothing listens on the agent port")
            await asyncio.sleep(0.2)
        client = AgentClient(ChannelConfig(tunnel.address), call_timeout_s=30)
        try:
            while not await client.check_health(timeout_s=5):
                if time.monotonic() - t0 > timeout_s:
                    raise _not_healthy(host, timeout_s, "the agent does not report SERVING")
                await asyncio.sleep(0.2)
            desc = await client.describe()
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(tunnel.close)
    return time.monotonic() - t0, desc


async def refuse_if_busy(host: Host, force: bool) -> None:
    """An upgrade restarts the agent: not in the middle of someone's measurement."""
    try:
        _, desc = await wait_healthy(host, 3.0)
    except AgentUnreachableError:
        return  # not running: nothing to interrupt
    if desc.busy_job_id and not force:
        raise SshError(
            f"device {host.device.name}: the agent is measuring job {desc.busy_job_id}; "
            "installing a new build restarts it. Run again when the job is done, or pass "
            "--force"
        )
    if desc.busy_job_id:
        host.say(f"agent: busy with job {desc.busy_job_id}, restarting anyway (--force)")


def _not_healthy(host: Host, timeout_s: float, why: str) -> AgentUnreachableError:
    kind = (host.state or {}).get("service", "supervisor")
    try:
        tail = host.session.run(
            logs_script(host.layout, kind, host.ssh.agent_port, 20, False), check=False
        ).stdout
    except RigbenchError:
        tail = "(could not read the log)"
    return AgentUnreachableError(
        f"device {host.device.name}: agent not healthy after {timeout_s:g}s ({why}); "
        f"last log lines:\n{tail.rstrip()}"
    )


def describe_sensors(desc: DeviceDescription) -> str | None:
    """The configured sources as the agent found them; None when none is configured."""
    configured = [s for s in desc.sensors if s.source in desc.sensor_settings]
    if not configured:
        return None
    return "; ".join(f"{s.source} {s.status}: {s.detail}" for s in configured)


def describe_runtimes(desc: DeviceDescription) -> str:
    return (
        ", ".join(f"{r.name} {r.version} [{', '.join(r.providers)}]" for r in desc.runtimes)
        or "none"
    )


# --- the commands -----------------------------------------------------------------------------
async def install(device: Device, opts: InstallOptions, say: Say) -> None:
    """``agent install`` / ``agent upgrade`` for one device."""
    t0 = time.monotonic()
    host = await asyncio.to_thread(connect_host, device, say, opts.trust_on_first_use)
    try:
        say(f"host: {host.facts.summary()}")
        if opts.upgrade and host.state is None:
            raise SshError(
                f"device {device.name}: no agent installed under {host.layout.root}; "
                f"run: rigbench agent install {device.name}"
            )
        if host.state and host.state.get("build_id") != opts.wheel.build_id:
            await refuse_if_busy(host, opts.force)
        changed = await asyncio.to_thread(install_package, host, opts)
        kind = await asyncio.to_thread(install_service, host, opts, changed)
        old = host.state or {}
        state = {
            "rigbench_version": opts.wheel.version,
            "build_id": opts.wheel.build_id,
            "extras_tried": host.notes.get("extras_tried", old.get("extras_tried", [])),
            "extras_installed": host.notes.get("extras_installed", []),
            "extras_unavailable": host.notes.get("extras_unavailable", {}),
            "offline": host.notes.get("offline", False),
            "service": kind,
            "service_name": service_name(host.ssh.agent_port),
            "agent_port": host.ssh.agent_port,
            "python": host.facts.python_executable,
            "python_version": host.facts.python_short,
            "platform": host.facts.platform_key,
            "installed_at": old.get("installed_at") or _now(),
        }
        if {k: v for k, v in old.items() if k != "updated_at"} != state:
            await asyncio.to_thread(write_state, host, {**state, "updated_at": _now()})
        secs, desc = await wait_healthy(host, opts.timeout_s)
        say(
            f"health: serving after {secs:.1f}s: agent {desc.agent_version}, protocol "
            f"{desc.protocol_version}, runtimes {describe_runtimes(desc)}"
        )
        check_agent_settings(device, desc)
        if sensors := describe_sensors(desc):
            say(f"sensors: {sensors}")
        say(f"done in {time.monotonic() - t0:.1f}s")
    finally:
        await asyncio.to_thread(host.session.close)


@dataclass
class AgentStatus:
    """What ``agent status`` found on one host; true when the agent serves as configured."""

    device: str
    installed: dict[str, Any] | None = None  # the install's state file, None when none
    service: str | None = None
    serving: bool = False
    health: str = ""
    agent_version: str | None = None
    busy_job_id: str | None = None
    sensors: str | None = None  # the configured sources as the agent found them
    sensor_mismatch: str | None = None  # it runs with other sensor settings than the inventory's

    def __bool__(self) -> bool:
        return self.serving and self.sensor_mismatch is None


async def status(device: Device, say: Say) -> AgentStatus:
    """``agent status``: installed build, service state, health."""
    out = AgentStatus(device.name)
    host = await asyncio.to_thread(connect_host, device, say, False)
    try:
        st = host.state
        if st is None:
            out.health = f"no install under {host.layout.root}"
            say(f"install: none under {host.layout.root}")
            return out
        out.installed = dict(st)
        say(
            f"install: rigbench {st.get('rigbench_version')} build {st.get('build_id')}, "
            f"runtimes {', '.join(st.get('extras_installed', [])) or 'none'}, "
            f"{'offline wheelhouse' if st.get('offline') else 'package index'}, "
            f"Python {st.get('python_version')}, since {st.get('installed_at')}"
            + (f", updated {st['updated_at']}" if st.get("updated_at") else "")
        )
        kind = st.get("service", "supervisor")
        out.service = await asyncio.to_thread(
            service_status, host.session, host.layout, kind, host.ssh.agent_port
        )
        say(f"service: {out.service}")
        try:
            secs, desc = await wait_healthy(host, 5.0)
        except AgentUnreachableError as e:
            out.health = f"NOT serving: {str(e).splitlines()[0]}"
            say(f"health: {out.health}")
            return out
        out.serving, out.agent_version = True, desc.agent_version
        out.busy_job_id = desc.busy_job_id or None
        out.health = (
            f"serving ({secs * 1000:.0f} ms): agent {desc.agent_version}, protocol "
            f"{desc.protocol_version}, runtimes {describe_runtimes(desc)}"
            + (f", busy with job {desc.busy_job_id}" if desc.busy_job_id else "")
        )
        say(f"health: {out.health}")
        if sensors := describe_sensors(desc):
            out.sensors = sensors
            say(f"sensors: {sensors}")
        try:
            check_agent_settings(device, desc)
        except AgentSettingsError as e:
            out.sensor_mismatch = str(e)
            say(f"sensors: {e}")
        return out
    finally:
        await asyncio.to_thread(host.session.close)


def logs(
    device: Device, say: Say, write: Callable[[str], object], lines: int, follow: bool
) -> None:
    """``agent logs``: the journal of the unit, or the supervisor's log file."""
    host = connect_host(device, say, False)
    try:
        kind = (host.state or {}).get("service")
        if kind is None:
            raise SshError(f"device {device.name}: no agent installed under {host.layout.root}")
        host.session.stream(
            logs_script(host.layout, kind, host.ssh.agent_port, lines, follow), write
        )
    finally:
        host.session.close()


def uninstall(device: Device, say: Say, purge: bool) -> None:
    """``agent uninstall``: stop and remove the service and the program; keep data unless purged."""
    host = connect_host(device, say, False)
    lay, s, q = host.layout, host.session, _q
    try:
        kinds = [(host.state or {}).get("service")] if host.state else ["supervisor"]
        if host.facts.systemd and not host.state:
            kinds += ["system" if host.facts.uid == 0 else "user"]
        for kind in kinds:
            if kind:
                say(f"service: {stop_any(host, kind)}")
        ours = s.run(f"[ -f {q(lay.marker)} ] && echo yes", check=False).stdout.strip() == "yes"
        if not ours:
            say(f"files: no rigbench install under {lay.root}, nothing to remove")
            return
        if purge:
            s.run(f"rm -rf {q(lay.root)}", what="remove install folder")
            say(f"files: removed {lay.root} with its data (--purge)")
            return
        program = [lay.venv, lay.wheels, lay.wheelhouse, lay.supervisor, lay.state, lay.restarts]
        program += [lay.log, lay.log + ".1"]
        r = s.run(
            "for p in " + " ".join(q(p) for p in program) + '; do [ -e "$p" ] && '
            'rm -rf "$p" && echo "$p"; done',
            check=False,
            what="remove program files",
        )
        gone = [posixpath.basename(p) for p in r.stdout.split()]
        say(f"files: removed {', '.join(gone) if gone else 'nothing (already gone)'}")
        say(
            f"files: kept {lay.home} (artifact cache and job spool: results not yet collected "
            "live there); `rigbench agent uninstall --purge` removes it"
        )
    finally:
        s.close()
