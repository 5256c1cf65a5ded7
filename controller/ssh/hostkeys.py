"""Host-key verification against an OpenSSH ``known_hosts`` file.

The default refuses both an unknown key and a changed one, as ``ssh`` with
``StrictHostKeyChecking yes`` does: a lab network is exactly where a swapped board or a
spoofed address goes unnoticed. Trust on first use is an explicit choice; it records the
key in known_hosts so every later connection is checked against it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import paramiko

from rigbench.controller.inventory import SshTransport
from rigbench.controller.ssh.errors import HostKeyError

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_append_lock = threading.Lock()  # several devices may record keys at once


def known_hosts_path(ssh: SshTransport) -> Path:
    return (ssh.known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()


def host_key_name(host: str, port: int) -> str:
    """The name OpenSSH files a host's key under: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's fingerprint form, so it can be compared with ``ssh-keygen -lf`` output."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


def load_known_hosts(client: paramiko.SSHClient, path: Path) -> None:
    """Load ``path`` as the client's only trusted keys (a missing file trusts nothing)."""
    if path.exists():
        try:
            client.load_system_host_keys(str(path))
        except (OSError, paramiko.SSHException) as e:
            raise HostKeyError(f"cannot read known_hosts {path}: {e}") from e


def record_host_key(path: Path, name: str, key: paramiko.PKey) -> None:
    """Append one known_hosts line; the file is created private (0600) as ssh does."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    with _append_lock:
        needs_newline = False
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(("\n" if needs_newline else "") + line)


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for a host with no key on file: refuse, or record (TOFU)."""

    def __init__(self, path: Path, trust_on_first_use: bool) -> None:
        self.path = path
        self.trust_on_first_use = trust_on_first_use
        self.recorded: str | None = None  # what was recorded, for the caller to report

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fp = fingerprint(key)
        if not self.trust_on_first_use:
            raise HostKeyError(
                f"unknown host key for {hostname} ({fp}); it is not in {self.path}. "
                "Check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*.pub), "
                f"then add it (ssh-keyscan -p PORT HOST >> {self.path}), or accept it "
                "once with --trust-on-first-use"
            )
        record_host_key(self.path, hostname, key)
        self.recorded = f"recorded new host key {fp} in {self.path} (trust on first use)"


def changed_key_error(e: paramiko.BadHostKeyException, name: str, path: Path) -> HostKeyError:
    """The message for the dangerous case: say what changed and how to accept it on purpose."""
    return HostKeyError(
        f"HOST KEY CHANGED for {name}: {path} has {fingerprint(e.expected_key)}, the host "
        f"offers {fingerprint(e.key)}. Refused: this may be an attack, or the board was "
        f"reinstalled. If you know why it changed: ssh-keygen -R '{name}' -f {path}, "
        "then connect again"
    )
