"""One verified SSH connection to a device: run shell snippets, move files.

Blocking paramiko calls live here; async callers wrap them with ``asyncio.to_thread``.
Commands run under ``sh -c`` whatever the login shell is, with every interpolated value
quoted by the caller (``shlex.quote``). Keys and passphrases are handed to paramiko only:
nothing here prints or stores them.
"""

from __future__ import annotations

import shlex
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from rigbench.controller.inventory import Device, SshTransport
from rigbench.controller.ssh.errors import (
    HostKeyError,
    RemoteCommandError,
    SshAuthError,
    SshError,
    SshUnreachableError,
)
from rigbench.controller.ssh.hostkeys import (
    HostKeyPolicy,
    changed_key_error,
    fingerprint,
    host_key_name,
    known_hosts_path,
    load_known_hosts,
)

KEEPALIVE_S = 15


@dataclass(frozen=True)
class RemoteResult:
    rc: int
    stdout: str
    stderr: str

    def tail(self, n: int = 1500) -> str:
        """The end of the output, where pip and shells put the reason they failed."""
        text = (self.stderr.strip() or self.stdout.strip())[-n:]
        return text or f"(no output, exit code {self.rc})"


class SshSession:
    """A connected, host-key-verified SSH client for one device."""

    def __init__(self, device_name: str, ssh: SshTransport, client: paramiko.SSHClient) -> None:
        self.device_name = device_name
        self.ssh = ssh
        self.client = client
        self.host_key_note = ""  # "verified ..." or "recorded ..." for the caller to report
        self._sftp: paramiko.SFTPClient | None = None

    # --- connecting ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        device: Device,
        *,
        trust_on_first_use: bool | None = None,
        timeout_s: float | None = None,
    ) -> SshSession:
        """Connect and verify the host key; TOFU only if asked here or in the inventory."""
        ssh = device.ssh
        if ssh is None:
            raise SshError(f"device {device.name} has no ssh: block in the inventory")
        tofu = ssh.trust_on_first_use if trust_on_first_use is None else trust_on_first_use
        timeout = timeout_s or device.connect_timeout_s
        path = known_hosts_path(ssh)
        name = host_key_name(ssh.host, ssh.port)
        client = paramiko.SSHClient()
        load_known_hosts(client, path)
        policy = HostKeyPolicy(path, tofu)
        client.set_missing_host_key_policy(policy)
        where = f"{ssh.user}@{ssh.host}:{ssh.port}"
        key_file = str(ssh.key_file.expanduser()) if ssh.key_file else None
        try:
            client.connect(
                ssh.host,
                port=ssh.port,
                username=ssh.user,
                key_filename=key_file,
                look_for_keys=key_file is None,
                allow_agent=True,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise changed_key_error(e, name, path) from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise SshAuthError(
                f"device {device.name}: the key for {where} is passphrase-protected; load it "
                "into ssh-agent (ssh-add): rigbench never asks for or stores passphrases"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            keys = f"the key {key_file}" if key_file else "the keys of ssh-agent and ~/.ssh"
            raise SshAuthError(
                f"device {device.name}: {where} refused {keys}: put its .pub in "
                f"~{ssh.user}/.ssh/authorized_keys on the host, and unlock the account if it "
                f"is locked (useradd leaves it so; as root there: usermod -p '*' {ssh.user})"
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            client.close()
            raise SshUnreachableError(
                f"device {device.name}: cannot reach SSH at {where}: {e or type(e).__name__}"
            ) from e
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_S)
        if isinstance(transport.sock, socket.socket):
            # gRPC's small frames through the tunnel must not wait for Nagle's algorithm.
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = cls(device.name, ssh, client)
        key = transport.get_remote_server_key()
        session.host_key_note = policy.recorded or f"host key {fingerprint(key)} verified"
        return session

    @property
    def transport(self) -> paramiko.Transport:
        t = self.client.get_transport()
        if t is None or not t.is_active():
            raise SshUnreachableError(f"device {self.device_name}: the SSH connection dropped")
        return t

    @property
    def active(self) -> bool:
        t = self.client.get_transport()
        return t is not None and t.is_active()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self.client.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands -----------------------------------------------------------------------------
    def run(
        self, script: str, *, check: bool = True, timeout_s: float = 120.0, what: str = ""
    ) -> RemoteResult:
        """Run ``script`` with ``sh -c`` on the host and collect its output."""
        try:
            chan = self.transport.open_session(timeout=timeout_s)
            chan.settimeout(timeout_s)
            chan.exec_command("sh -c " + shlex.quote(script))
            err_chunks: list[bytes] = []
            # Drain stderr on its own thread: an unread stream would stall the channel window.
            t = threading.Thread(target=_drain_stderr, args=(chan, err_chunks), daemon=True)
            t.start()
            out = b"".join(iter(lambda: chan.recv(1 << 16), b""))
            t.join(timeout_s)
            rc = chan.recv_exit_status()
            chan.close()
        except TimeoutError as e:
            raise SshError(
                f"device {self.device_name}: {what or 'a command'} timed out after {timeout_s:g}s"
            ) from e
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise SshUnreachableError(
                f"device {self.device_name}: SSH failed during {what or 'a command'}: {e}"
            ) from e
        result = RemoteResult(
            rc, out.decode(errors="replace"), b"".join(err_chunks).decode(errors="replace")
        )
        if check and rc != 0:
            raise RemoteCommandError(
                f"device {self.device_name}: {what or 'command'} failed on the host "
                f"(exit {rc}):\n{result.tail()}"
            )
        return result

    def stream(self, script: str, write: Callable[[str], object]) -> int:
        """Run ``script`` and hand its combined output to ``write`` until it ends."""
        chan = self.transport.open_session()
        chan.set_combine_stderr(True)
        chan.exec_command("sh -c " + shlex.quote(script))
        try:
            for chunk in iter(lambda: chan.recv(1 << 14), b""):
                write(chunk.decode(errors="replace"))
        finally:
            chan.close()
        return chan.recv_exit_status() if chan.exit_status_ready() else 0

    # --- files --------------------------------------------------------------------------------
    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except (OSError, paramiko.SSHException) as e:
                raise SshError(
                    f"device {self.device_name}: SFTP is not available on the host ({e}); "
                    "rigbench ships files over SFTP (sshd: Subsystem sftp ...)"
                ) from e
        return self._sftp

    def remote_size(self, path: str) -> int | None:
        try:
            return self.sftp.stat(path).st_size
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SshError(f"device {self.device_name}: cannot stat {path}: {e}") from e

    def remote_sha256(self, path: str) -> str | None:
        """The digest of a host file, computed on the host (no download)."""
        q = shlex.quote(path)
        r = self.run(
            f"if [ -f {q} ]; then sha256sum {q} 2>/dev/null || shasum -a 256 {q}; fi",
            what="sha256 of " + path,
        )
        return r.stdout.split()[0] if r.stdout.strip() else None

    def put(self, local: Path, remote: str) -> None:
        """Upload to a temporary name and rename, so a cut connection leaves no half file."""
        tmp = remote + ".part"
        try:
            self.sftp.put(str(local), tmp, confirm=True)
            self.sftp.posix_rename(tmp, remote)
        except (OSError, paramiko.SSHException) as e:
            raise SshError(f"device {self.device_name}: upload of {local.name} failed: {e}") from e

    def read_text(self, remote: str) -> str | None:
        try:
            with self.sftp.open(remote, "r") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SshError(f"device {self.device_name}: cannot read {remote}: {e}") from e

    def write_text(self, remote: str, text: str, mode: int = 0o644) -> bool:
        """Write ``text`` unless the file already holds exactly that; True if written."""
        if self.read_text(remote) == text:
            return False
        tmp = remote + ".part"
        try:
            with self.sftp.open(tmp, "w") as f:
                f.write(text.encode())
            self.sftp.chmod(tmp, mode)
            self.sftp.posix_rename(tmp, remote)
        except OSError as e:
            raise SshError(f"device {self.device_name}: cannot write {remote}: {e}") from e
        return True


def sh_path(path: str) -> str:
    """Quote a host path for ``sh``, keeping a leading ``~/`` expandable."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _drain_stderr(chan: paramiko.Channel, sink: list[bytes]) -> None:
    try:
        for chunk in iter(lambda: chan.recv_stderr(1 << 16), b""):
            sink.append(chunk)
    except (OSError, paramiko.SSHException):
        pass


