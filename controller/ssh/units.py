"""What the installer writes on a host: the folder layout, a systemd unit, a supervisor.

systemd is the way an agent survives a reboot and a crash. Boards without it (containers,
minimal images) get a small POSIX-sh supervisor that restarts the agent whenever it exits,
keeps pid files, and backs off when the agent keeps dying quickly; it does not survive a
reboot, and the installer says so. Texts are pure functions of the layout, so they are
compared on every install (idempotency) and checked by content in tests.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from rigbench import __version__

DEFAULT_AGENT_PORT = 50151
MARKER = ".rigbench-agent-install"  # only a folder holding this is ever removed
SUPERVISOR = "rigbench-supervise.sh"
LOG_ROTATE_BYTES = 10 << 20


@dataclass(frozen=True)
class RemoteLayout:
    """Every path the installer uses under one install folder on the host."""

    root: str  # absolute

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def venv(self) -> str:
        return self._p("venv")

    @property
    def python(self) -> str:
        return self._p("venv", "bin", "python")

    @property
    def rigbench(self) -> str:
        return self._p("venv", "bin", "rigbench")

    @property
    def wheels(self) -> str:
        return self._p("wheels")

    @property
    def wheelhouse(self) -> str:
        return self._p("wheelhouse")

    @property
    def home(self) -> str:
        """The agent's cache and spool: kept by ``uninstall`` unless purged."""
        return self._p("home")

    @property
    def state(self) -> str:
        return self._p("state.json")

    @property
    def marker(self) -> str:
        return self._p(MARKER)

    @property
    def log(self) -> str:
        return self._p("agent.log")

    @property
    def supervisor(self) -> str:
        return self._p(SUPERVISOR)

    @property
    def supervisor_pid(self) -> str:
        return self._p("supervisor.pid")

    @property
    def agent_pid(self) -> str:
        return self._p("agent.pid")

    @property
    def restarts(self) -> str:
        return self._p("restarts")


def resolve_install_dir(install_dir: str, home: str) -> str:
    """``~/x`` and relative paths are under the SSH user's home; the result is absolute."""
    if install_dir == "~" or install_dir.startswith("~/"):
        install_dir = home + install_dir[1:]
    elif not install_dir.startswith("/"):
        install_dir = posixpath.join(home, install_dir)
    return posixpath.normpath(install_dir)


def service_name(agent_port: int) -> str:
    """``rigbench-agent``; a second agent on the same host is named by its port."""
    return "rigbench-agent" if agent_port == DEFAULT_AGENT_PORT else f"rigbench-agent-{agent_port}"


def serve_options(telemetry_root: str | None, simulated: bool) -> list[str]:
    """``agent serve`` options from the inventory's ssh block: a recorded sensor root."""
    args = ["--telemetry-root", telemetry_root] if telemetry_root else []
    return args + (["--simulated"] if simulated or telemetry_root else [])


def agent_argv(layout: RemoteLayout, agent_port: int, extra: Sequence[str] = ()) -> list[str]:
    """The agent command: loopback only, since the controller comes through SSH; ``extra``
    are further ``agent serve`` options (a recorded root, the device's ``--sensor`` settings).
    """
    return [
        layout.rigbench,
        "agent",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(agent_port),
        "--home",
        layout.home,
        *extra,
    ]


def _systemd_quote(arg: str) -> str:
    """Quote one ExecStart word: systemd's own rules (``%`` is a specifier, ``$`` expands a
    variable, quotes C-like).
    """
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\"'\\;$"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(
    layout: RemoteLayout,
    agent_port: int,
    *,
    user_unit: bool,
    run_as: str | None,
    extra: Sequence[str] = (),
) -> str:
    """A unit that restarts the agent forever: a board that reboots or crashes comes back."""
    exec_start = " ".join(_systemd_quote(a) for a in agent_argv(layout, agent_port, extra))
    lines = [
        f"# Written by `rigbench agent install` (rigbench {__version__}); "
        "`rigbench agent uninstall` removes it.",
        "[Unit]",
        f"Description=rigbench benchmark agent (gRPC on 127.0.0.1:{agent_port})",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
    ]
    if not user_unit and run_as and run_as != "root":
        lines.append(f"User={run_as}")
    lines += [
        f"WorkingDirectory={_systemd_quote(layout.root)}",
        f"ExecStart={exec_start}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=always",
        "RestartSec=2",
        "KillMode=mixed",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        f"WantedBy={'default.target' if user_unit else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def unit_path(name: str, *, user_unit: bool, home: str) -> str:
    if user_unit:
        return posixpath.join(home, ".config", "systemd", "user", f"{name}.service")
    return f"/etc/systemd/system/{name}.service"


def supervisor_script(layout: RemoteLayout, agent_port: int, extra: Sequence[str] = ()) -> str:
    """POSIX sh: run the agent, restart it when it exits, stop it (and itself) on TERM."""
    q = shlex.quote
    cmd = " ".join(q(a) for a in agent_argv(layout, agent_port, extra))
    return f"""#!/bin/sh
# rigbench agent supervisor, written by `rigbench agent install` (rigbench {__version__})
# for a host without systemd. It restarts the agent whenever it exits, waiting longer
# (up to 30 s) while it keeps dying quickly. Where the host has crontab, an @reboot line
# written by the installer starts it at boot.
# Stop it with `rigbench agent uninstall DEVICE`, or: kill -TERM "$(cat supervisor.pid)"
dir={q(layout.root)}
log="$dir/agent.log"
echo $$ > "$dir/supervisor.pid"
child=
stop() {{
  trap - TERM INT HUP
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  rm -f "$dir/supervisor.pid" "$dir/agent.pid"
  exit 0
}}
trap stop TERM INT HUP
delay=1
while :; do
  if [ -f "$log" ] && [ "$(wc -c < "$log")" -gt {LOG_ROTATE_BYTES} ]; then
    mv -f "$log" "$log.1"
  fi
  started=$(date +%s)
  {cmd} >>"$log" 2>&1 </dev/null &
  child=$!
  echo "$child" > "$dir/agent.pid"
  wait "$child"
  rc=$?
  child=
  n=$(( $(cat "$dir/restarts" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$dir/restarts"
  if [ $(( $(date +%s) - started )) -ge 30 ]; then delay=1; fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) rigbench-supervise: agent exited (status $rc);" \\
    "restart $n in ${{delay}}s" >>"$log"
  sleep "$delay" &
  wait $!
  delay=$(( delay * 2 ))
  if [ "$delay" -gt 30 ]; then delay=30; fi
done
"""
