"""Keep the agent running on a host: a systemd unit (system or user), or the supervisor.

Each function runs a few shell lines over SSH and returns what it did, in words, so the
installer can report "unit unchanged, skipped" rather than silently doing nothing.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from rigbench.controller.ssh.errors import SshError
from rigbench.controller.ssh.probe import HostFacts
from rigbench.controller.ssh.session import SshSession
from rigbench.controller.ssh.units import (
    SUPERVISOR,
    RemoteLayout,
    service_name,
    supervisor_script,
    systemd_unit,
    unit_path,
)

ServiceKind = Literal["system", "user", "supervisor"]
Say = Callable[[str], None]
SERVICE_CHOICES = ("auto", "system", "user", "supervisor")

# `alive PID PATTERN`: the pid runs and (where /proc exists) is the process we started, so
# a recycled pid is never signalled.
_ALIVE = (
    'alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && '
    '{ [ ! -r "/proc/$1/cmdline" ] || tr "\\000" " " < "/proc/$1/cmdline" | grep -q -e "$2"; }; }'
)


@dataclass(frozen=True)
class ServiceChoice:
    kind: ServiceKind
    reason: str


def choose_service(facts: HostFacts, requested: str) -> ServiceChoice:
    """Pick systemd when it is PID 1 (system unit as root, else user unit), else supervisor."""
    if requested == "supervisor":
        return ServiceChoice("supervisor", "supervised process (as asked)")
    if requested in ("system", "user") and not facts.systemd:
        raise SshError(
            f"--service {requested} needs systemd, but PID 1 on the host is "
            f"{facts.pid1 or 'unknown'}; use --service auto or supervisor"
        )
    if requested == "system" or (requested == "auto" and facts.systemd and facts.uid == 0):
        if facts.uid != 0:
            raise SshError(
                "a system unit needs root on the host; connect as root, or use --service user"
            )
        return ServiceChoice("system", "systemd system unit")
    if requested == "user" or (requested == "auto" and facts.systemd and facts.user_systemd):
        return ServiceChoice("user", f"systemd user unit for {facts.user}")
    why = (
        f"PID 1 is {facts.pid1 or 'unknown'}, not systemd"
        if not facts.systemd
        else f"no systemd user manager for {facts.user}"
    )
    return ServiceChoice("supervisor", f"supervised background process ({why})")


def _systemctl(kind: ServiceKind) -> str:
    if kind == "user":
        # Non-interactive SSH sessions without PAM may lack the user bus's address.
        return 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user'
    return "systemctl"


# --- systemd ----------------------------------------------------------------------------------
def install_systemd(
    session: SshSession,
    facts: HostFacts,
    layout: RemoteLayout,
    kind: ServiceKind,
    agent_port: int,
    restart: bool,
    say: Say,
    extra: Sequence[str] = (),
) -> None:
    user_unit = kind == "user"
    name = service_name(agent_port)
    path = unit_path(name, user_unit=user_unit, home=facts.home)
    text = systemd_unit(layout, agent_port, user_unit=user_unit, run_as=facts.user, extra=extra)
    session.run(f"mkdir -p {shlex.quote(posixpath.dirname(path))}", what="unit folder")
    sc = _systemctl(kind)
    if session.write_text(path, text):
        session.run(f"{sc} daemon-reload", what="systemctl daemon-reload")
        say(f"unit {path} written")
        restart = True
    else:
        say(f"unit {path} unchanged, skipped")
    q = shlex.quote(name)
    if session.run(f"{sc} is-enabled --quiet {q}", check=False).rc == 0:
        say("already enabled at boot")
    else:
        session.run(f"{sc} enable --quiet {q}", what=f"systemctl enable {name}")
        say("enabled at boot")
    if session.run(f"{sc} is-active --quiet {q}", check=False).rc != 0:
        session.run(f"{sc} start {q}", what=f"systemctl start {name}")
        say(f"{name} started")
    elif restart:
        session.run(f"{sc} restart {q}", what=f"systemctl restart {name}")
        say(f"{name} restarted (new build or unit)")
    else:
        say(f"{name} running, skipped")
    if user_unit:
        say(_linger(session))


def _linger(session: SshSession) -> str:
    """A user unit starts at boot only with lingering on; try to enable it, say if we could not."""
    r = session.run('loginctl show-user "$(id -un)" -p Linger 2>/dev/null', check=False)
    if "Linger=yes" in r.stdout:
        return "lingering already on: the agent starts at boot"
    if session.run("loginctl enable-linger 2>&1", check=False).rc == 0:
        return "lingering enabled: the agent starts at boot without a login"
    return (
        "could not enable lingering: the agent starts when the user logs in; an admin can "
        'run: loginctl enable-linger "$USER"'
    )


def stop_systemd(session: SshSession, facts: HostFacts, kind: ServiceKind, agent_port: int) -> str:
    name = service_name(agent_port)
    path = unit_path(name, user_unit=kind == "user", home=facts.home)
    sc = _systemctl(kind)
    if session.remote_size(path) is None:
        return f"no unit {path}, skipped"
    session.run(f"{sc} disable --now --quiet {shlex.quote(name)}", check=False)
    session.run(f"rm -f {shlex.quote(path)} && {sc} daemon-reload", what="remove unit")
    return f"{name} stopped and disabled; unit {path} removed"


# --- supervisor -------------------------------------------------------------------------------
def _supervisor_pids(session: SshSession, layout: RemoteLayout) -> tuple[str, str]:
    q = shlex.quote
    r = session.run(
        f"{_ALIVE}\n"
        f"sp=$(cat {q(layout.supervisor_pid)} 2>/dev/null); "
        f"ap=$(cat {q(layout.agent_pid)} 2>/dev/null)\n"
        f'alive "$sp" {SUPERVISOR} && echo "supervisor=$sp" || echo supervisor=\n'
        'alive "$ap" "agent serve" && echo "agent=$ap" || echo agent=\n',
        what="supervisor status",
    )
    kv = dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)
    return kv.get("supervisor", ""), kv.get("agent", "")


def stop_supervisor(session: SshSession, layout: RemoteLayout) -> str:
    """TERM the supervisor (it stops the agent), KILL after 30 s; also an orphaned agent."""
    q = shlex.quote
    script = f"""{_ALIVE}
stop() {{ # PID PATTERN
  alive "$1" "$2" || return 1
  kill -TERM "$1"; i=0
  while alive "$1" "$2" && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  alive "$1" "$2" && kill -KILL "$1"
  return 0
}}
sp=$(cat {q(layout.supervisor_pid)} 2>/dev/null); ap=$(cat {q(layout.agent_pid)} 2>/dev/null)
stop "$sp" {SUPERVISOR} && echo "stopped supervisor (pid $sp)"
stop "$ap" "agent serve" && echo "stopped agent (pid $ap)"
rm -f {q(layout.supervisor_pid)} {q(layout.agent_pid)}
"""
    out = session.run(script, what="stop supervisor", timeout_s=90).stdout.strip()
    return "; ".join(out.splitlines()) or "supervisor not running, skipped"


def install_supervisor(
    session: SshSession,
    facts: HostFacts,
    layout: RemoteLayout,
    agent_port: int,
    restart: bool,
    say: Say,
    extra: Sequence[str] = (),
) -> None:
    script = supervisor_script(layout, agent_port, extra)
    if session.write_text(layout.supervisor, script, 0o755):
        say(f"supervisor script {layout.supervisor} written")
        restart = True
    else:
        say("supervisor script unchanged, skipped")
    sup, agent = _supervisor_pids(session, layout)
    if sup and not restart:
        say(f"supervisor running (pid {sup}, agent pid {agent or 'restarting'}), skipped")
        return
    if sup or agent:
        say(stop_supervisor(session, layout))
    q = shlex.quote
    detach = "setsid nohup" if facts.setsid else "nohup"
    r = session.run(
        f"cd {q(layout.root)} || exit 1\n"
        "rm -f supervisor.pid agent.pid restarts\n"
        f"{detach} sh {q(layout.supervisor)} </dev/null >/dev/null 2>&1 &\n"
        "i=0; while [ ! -s supervisor.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n"
        "cat supervisor.pid 2>/dev/null",
        what="start supervisor",
    )
    pid = r.stdout.strip()
    if not pid:
        raise SshError(f"the supervisor did not start; see {layout.log} on the host")
    say(f"supervisor {'restarted' if sup else 'started'} (pid {pid})")
    if facts.crontab:
        say(ensure_boot_entry(session, layout, facts.setsid))
    else:
        say(
            "no systemd and no crontab on the host, so the agent will not come back after a "
            "reboot: re-run `rigbench agent install` then"
        )


# --- start at boot without systemd: a cron @reboot line ---------------------------------------
def boot_entry(layout: RemoteLayout, setsid: bool) -> str:
    """The crontab line that starts the supervisor at boot; its comment names the install."""
    q = shlex.quote
    detach = "setsid nohup" if setsid else "nohup"
    return (
        f"@reboot cd {q(layout.root)} && rm -f supervisor.pid agent.pid && "
        f"{detach} sh {q(layout.supervisor)} </dev/null >/dev/null 2>&1 & {_boot_tag(layout)}"
    )


def _boot_tag(layout: RemoteLayout) -> str:
    return f"# rigbench agent in {layout.root}"


def ensure_boot_entry(session: SshSession, layout: RemoteLayout, setsid: bool) -> str:
    """Add (or update) this install's @reboot line in the user's crontab; other lines stay."""
    q = shlex.quote
    line, tag = boot_entry(layout, setsid), _boot_tag(layout)
    r = session.run(
        f"line={q(line)}; tag={q(tag)}\n"
        "cur=$(crontab -l 2>/dev/null)\n"
        'if printf "%s\\n" "$cur" | grep -qxF -e "$line"; then echo unchanged; exit 0; fi\n'
        '{ [ -n "$cur" ] && printf "%s\\n" "$cur" | grep -vF -e "$tag"; '
        'printf "%s\\n" "$line"; } | crontab - && echo written',
        check=False,
        what="crontab @reboot entry",
    )
    out = r.stdout.strip()
    if out == "unchanged":
        return "start at boot: crontab @reboot entry unchanged, skipped"
    if out == "written":
        return "start at boot: crontab @reboot entry written (no systemd on the host)"
    raise SshError(
        f"could not add the @reboot line to the crontab of {session.ssh.user or 'the user'}: "
        f"{r.stderr.strip() or r.stdout.strip() or 'crontab failed'}"
    )


def remove_boot_entry(session: SshSession, layout: RemoteLayout) -> str:
    """Take this install's @reboot line out of the user's crontab, if it is there."""
    tag = shlex.quote(_boot_tag(layout))
    r = session.run(
        f"tag={tag}\n"
        "cur=$(crontab -l 2>/dev/null) || { echo none; exit 0; }\n"
        'printf "%s\\n" "$cur" | grep -qF -e "$tag" || { echo none; exit 0; }\n'
        'printf "%s\\n" "$cur" | grep -vF -e "$tag" | crontab - && echo removed',
        check=False,
        what="crontab @reboot entry",
    )
    if r.stdout.strip() == "removed":
        return "start at boot: crontab @reboot entry removed"
    return "start at boot: no crontab @reboot entry, skipped"


# --- status and logs --------------------------------------------------------------------------
def service_status(
    session: SshSession, layout: RemoteLayout, kind: ServiceKind, agent_port: int
) -> str:
    if kind == "supervisor":
        sup, agent = _supervisor_pids(session, layout)
        restarts = (session.read_text(layout.restarts) or "0").strip()
        if not sup:
            return "supervisor not running" + (f" (orphaned agent pid {agent})" if agent else "")
        return f"supervisor pid {sup}, agent pid {agent or '(restarting)'}, {restarts} restart(s)"
    name = shlex.quote(service_name(agent_port))
    sc = _systemctl(kind)
    r = session.run(
        f"{sc} is-active {name}; {sc} is-enabled {name}; "
        f"{sc} show {name} -p MainPID -p NRestarts --value",
        check=False,
        what="systemctl status",
    )
    parts = r.stdout.split()
    active, enabled = (parts + ["?", "?"])[:2]
    pid, restarts = (parts[2:] + ["?", "?"])[:2]
    unit = service_name(agent_port)
    return f"{kind} unit {unit}: {active}, {enabled}, pid {pid}, {restarts} restart(s)"


def logs_script(
    layout: RemoteLayout, kind: ServiceKind, agent_port: int, lines: int, follow: bool
) -> str:
    if kind == "supervisor":
        q = shlex.quote(layout.log)
        return (
            f"if [ -f {q} ]; then tail -n {lines:d} {'-F ' if follow else ''}{q}; "
            f"else echo 'no log yet at {layout.log}'; fi"
        )
    journal = "journalctl --user" if kind == "user" else "journalctl"
    return f"{journal} -u {shlex.quote(service_name(agent_port))} -n {lines:d} --no-pager" + (
        " -f" if follow else ""
    )
