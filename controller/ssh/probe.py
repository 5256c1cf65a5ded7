"""What a host is: CPU architecture, Python, libc, init system, user: one round trip.

The installer decides from these facts which wheels a host needs, whether a systemd unit
can work (and which kind), and which runtimes are worth trying. Parsing is a pure function
so it is tested against captured outputs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from rigbench.controller.ssh.errors import SshError
from rigbench.controller.ssh.session import SshSession, sh_path

MIN_PYTHON = (3, 10)

_PY_FACTS = (
    "import json, platform, sys\n"
    "lib, ver = platform.libc_ver()\n"
    "try:\n"
    "    import ensurepip, venv\n"
    "    has_venv = True\n"
    "except ImportError:\n"
    "    has_venv = False\n"
    "print(json.dumps({'version': list(sys.version_info[:3]), 'impl': "
    "sys.implementation.name, 'libc': lib, 'libc_version': ver, 'machine': "
    "platform.machine(), 'venv': has_venv, 'executable': sys.executable}))\n"
)


def probe_script(python: str) -> str:
    """Shell that prints ``key=value`` lines; the python line is JSON from the host's python."""
    py = sh_path(python)
    return "\n".join(
        [
            'echo "arch=$(uname -m)"',
            'echo "kernel=$(uname -sr)"',
            'echo "uid=$(id -u)"',
            'echo "user=$(id -un)"',
            'echo "home=$HOME"',
            'echo "pid1=$(cat /proc/1/comm 2>/dev/null)"',
            "[ -d /run/systemd/system ] && echo systemd_booted=1 || echo systemd_booted=0",
            "command -v systemctl >/dev/null 2>&1 && echo systemctl=1 || echo systemctl=0",
            "systemctl --user show-environment >/dev/null 2>&1 && echo user_systemd=1 "
            "|| echo user_systemd=0",
            "command -v setsid >/dev/null 2>&1 && echo setsid=1 || echo setsid=0",
            "command -v crontab >/dev/null 2>&1 && echo crontab=1 || echo crontab=0",
            "( [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1 )"
            " && echo nvidia=1 || echo nvidia=0",
            "[ -e /etc/nv_tegra_release ] && echo jetson=1 || echo jetson=0",
            f'out=$({py} -c {shlex.quote(_PY_FACTS)} 2>&1) && echo "python=$out" '
            '|| echo "python_error=$(echo "$out" | tail -n 3 | tr "\\n" " ")"',
        ]
    )


@dataclass(frozen=True)
class HostFacts:
    arch: str
    kernel: str
    uid: int
    user: str
    home: str
    pid1: str
    systemd_booted: bool
    systemctl: bool
    user_systemd: bool
    setsid: bool
    nvidia: bool
    jetson: bool
    python_version: tuple[int, int, int]
    python_impl: str
    python_executable: str
    libc: str
    libc_version: str
    has_venv: bool
    crontab: bool = False

    @property
    def python_tag(self) -> str:
        """``cp311``-style tag, for wheel selection and cache keys."""
        prefix = "cp" if self.python_impl == "cpython" else self.python_impl[:2]
        return f"{prefix}{self.python_version[0]}{self.python_version[1]}"

    @property
    def python_short(self) -> str:
        return f"{self.python_version[0]}.{self.python_version[1]}"

    @property
    def platform_key(self) -> str:
        """What a wheelhouse is valid for: interpreter, libc and architecture."""
        return f"{self.python_tag}-{self.libc or 'libc'}{self.libc_version}-{self.arch}"

    @property
    def systemd(self) -> bool:
        """True when systemd runs as PID 1 (sd_booted's test), and systemctl is there."""
        return self.systemd_booted and self.systemctl

    def summary(self) -> str:
        init = "systemd" if self.systemd else f"no systemd (PID 1 is {self.pid1 or '?'})"
        libc = f"{self.libc} {self.libc_version}" if self.libc else "unknown libc"
        return (
            f"{self.kernel} {self.arch}, Python {'.'.join(map(str, self.python_version))} "
            f"({libc}), {init}, user {self.user}"
        )


def parse_facts(text: str, device: str, python: str) -> HostFacts:
    """Turn the probe's output into facts, with a message that says what to fix."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k and k.isidentifier():
            kv.setdefault(k, v)
    if "python_error" in kv or "python" not in kv:
        raise SshError(
            f"device {device}: cannot run {python!r} on the host: "
            f"{kv.get('python_error', '').strip() or 'no output'}; set ssh.python in the "
            "inventory to a Python 3.10+ interpreter"
        )
    try:
        py = json.loads(kv["python"])
        version = tuple(int(x) for x in py["version"][:3])
    except (ValueError, KeyError, TypeError) as e:
        raise SshError(f"device {device}: unexpected output from {python}: {e}") from e
    facts = HostFacts(
        arch=kv.get("arch", "") or str(py.get("machine", "")),
        kernel=kv.get("kernel", ""),
        uid=int(kv.get("uid", "-1") or -1),
        user=kv.get("user", ""),
        home=kv.get("home", ""),
        pid1=kv.get("pid1", ""),
        systemd_booted=kv.get("systemd_booted") == "1",
        systemctl=kv.get("systemctl") == "1",
        user_systemd=kv.get("user_systemd") == "1",
        setsid=kv.get("setsid") == "1",
        nvidia=kv.get("nvidia") == "1",
        jetson=kv.get("jetson") == "1",
        python_version=(version + (0, 0, 0))[:3],  # type: ignore[arg-type]
        python_impl=str(py.get("impl", "cpython")),
        python_executable=str(py.get("executable", python)),
        libc=str(py.get("libc", "")),
        libc_version=str(py.get("libc_version", "")),
        has_venv=bool(py.get("venv", False)),
        crontab=kv.get("crontab") == "1",
    )
    if facts.python_version[:2] < MIN_PYTHON:
        raise SshError(
            f"device {device}: {python} on the host is Python {facts.python_short}; the agent "
            "needs 3.10 or newer: set ssh.python in the inventory to a newer interpreter"
        )
    if not facts.has_venv:
        raise SshError(
            f"device {device}: {python} on the host cannot create virtualenvs (no venv/"
            "ensurepip); install them first, e.g. apt-get install python3-venv"
        )
    return facts


def probe_host(session: SshSession) -> HostFacts:
    python = session.ssh.python
    r = session.run(probe_script(python), check=False, timeout_s=60, what="host probe")
    return parse_facts(r.stdout, session.device_name, python)
