"""A real OpenSSH server on a loopback port for tests, with generated host and user keys.

Debian's ``openssh-server`` (CI's ``.ci/run`` installs it) is started with ``-D -e -f`` and a
config in a temp folder: key authentication only, an ``AuthorizedKeysFile`` in that folder,
``StrictModes no`` and ``UsePAM no`` so it runs in a sandbox, as root or as the test user.
Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def sshd_available() -> bool:
    return os.access(SSHD, os.X_OK) and os.access(SSH_KEYGEN, os.X_OK)


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A passphrase-less key pair at ``path`` and ``path.pub``."""
    path.unlink(missing_ok=True)
    Path(str(path) + ".pub").unlink(missing_ok=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", "rigbench-test", "-f", str(path)],
        check=True,
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    folder: Path
    port: int
    host_key: Path
    user_key: Path
    user: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    def known_hosts_line(self) -> str:
        kind, b64 = Path(str(self.host_key) + ".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {b64}\n"

    def write_config(self) -> Path:
        cfg = self.folder / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "AllowTcpForwarding yes",
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return cfg

    def start(self, timeout_s: float = 10.0) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        cfg = self.write_config()
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill_sessions(self) -> int:
        """SIGKILL every connection's sshd process: to the client, the host just vanished."""
        assert self.proc is not None
        killed = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                os.kill(int(stat.parent.name), signal.SIGKILL)
                killed += 1
        return killed

    def restart_with_new_host_key(self) -> None:
        """The same address with a different key: what a reinstalled board (or MITM) looks like."""
        self.stop()
        keygen(self.host_key)
        self.start()


def start_sshd(folder: Path) -> Sshd:
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "ssh_host_ed25519_key")
    user_key = keygen(folder / "id_user")
    (folder / "authorized_keys").write_text(Path(str(user_key) + ".pub").read_text())
    for attempt in range(3):
        sshd = Sshd(folder, free_port(), host_key, user_key, getpass.getuser())
        try:
            sshd.start()
            return sshd
        except RuntimeError:
            sshd.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
