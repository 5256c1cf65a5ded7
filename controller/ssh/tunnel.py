"""Forward a loopback port on the controller to the agent on a host's loopback, over SSH.

The agent never listens on the network: gRPC goes to ``127.0.0.1:<local port>`` here and
comes out at ``127.0.0.1:<agent_port>`` on the host through a ``direct-tcpip`` channel. The
forwarding runs on daemon threads (paramiko is blocking), so the asyncio controller never
waits on a socket. If the SSH connection drops (a board rebooting), the next connection
gRPC opens reconnects it, with the host key verified again.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

import paramiko

from rigbench.controller.inventory import Device
from rigbench.controller.ssh.errors import SshError, SshUnreachableError
from rigbench.controller.ssh.session import SshSession
from rigbench.errors import AgentUnreachableError

CHUNK = 1 << 16
WINDOW_BYTES = 8 << 20  # a larger receive window than paramiko's 2 MiB helps downloads
CHANNEL_OPEN_TIMEOUT_S = 10.0


class _RefusedChannelsAreAnswers(logging.Filter):
    """paramiko logs every refused ``direct-tcpip`` channel at ERROR ("Secsh channel N open
    FAILED: Connection refused"). Here a refusal is an expected answer (the agent is not
    listening yet, say while an install waits for its health check), which the tunnel's
    callers get as ``ChannelException`` and report themselves: printed, it is only noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and "open FAILED" in record.msg)


logging.getLogger("paramiko.transport").addFilter(_RefusedChannelsAreAnswers())


class SshTunnel:
    """``127.0.0.1:<port>`` here → ``127.0.0.1:<remote_port>`` on the host."""

    def __init__(
        self,
        open_session: Callable[[], SshSession],
        remote_port: int,
        session: SshSession | None = None,
        owns_session: bool = True,
    ) -> None:
        self._open_session = open_session
        self._session = session
        self._owns_session = owns_session or session is None
        self.remote = ("127.0.0.1", remote_port)
        self.reconnects = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._live: set[socket.socket | paramiko.Channel] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"ssh-tunnel:{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- the SSH side -------------------------------------------------------------------------
    def _transport(self) -> paramiko.Transport:
        with self._lock:
            if self._closed.is_set():
                raise SshError("the tunnel is closed")
            if self._session is None or not self._session.active:
                if self._session is not None:
                    self._session.close()
                    self.reconnects += 1
                self._session = self._open_session()
                self._owns_session = True
            return self._session.transport

    def open_channel(self, src: tuple[str, int] = ("127.0.0.1", 0)) -> paramiko.Channel:
        """A channel to the agent's port; ``ChannelException`` if nothing listens there."""
        return self._transport().open_channel(
            "direct-tcpip",
            self.remote,
            src,
            window_size=WINDOW_BYTES,
            timeout=CHANNEL_OPEN_TIMEOUT_S,
        )

    def probe(self) -> bool:
        """Is something listening on the host's agent port? (No gRPC involved.)"""
        try:
            chan = self.open_channel()
        except paramiko.ChannelException:
            return False
        except (OSError, paramiko.SSHException) as e:
            raise SshUnreachableError(f"SSH tunnel failed: {e}") from e
        chan.close()
        return True

    # --- the local side -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, addr = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, addr), daemon=True).start()

    def _serve(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            chan = self.open_channel(addr)
        except (SshError, OSError, paramiko.SSHException):
            # Nothing listens on the host (agent restarting) or SSH is down: gRPC sees the
            # connection close and reports UNAVAILABLE, which callers retry.
            conn.close()
            return
        with self._lock:
            self._live.update((conn, chan))
        up = threading.Thread(target=_copy_to_channel, args=(conn, chan), daemon=True)
        up.start()
        _copy_to_socket(chan, conn)
        up.join()
        with self._lock:
            self._live.difference_update((conn, chan))
        chan.close()
        conn.close()

    def close(self) -> None:
        """Stop accepting, cut open connections, and close the SSH session if we own it."""
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for x in live:
            x.close()
        if self._owns_session and self._session is not None:
            self._session.close()


def _copy_to_channel(conn: socket.socket, chan: paramiko.Channel) -> None:
    try:
        while data := conn.recv(CHUNK):
            chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):  # EOFError: the SSH connection died
        chan.close()


def _copy_to_socket(chan: paramiko.Channel, conn: socket.socket) -> None:
    try:
        while data := chan.recv(CHUNK):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except (OSError, EOFError, paramiko.SSHException):
        conn.close()


def open_agent_tunnel(device: Device) -> SshTunnel:
    """Connect (host key verified), forward a loopback port, and check the agent listens.

    Blocking: call it with ``asyncio.to_thread``. A dropped SSH connection is reopened with
    the same verification when gRPC next connects.
    """
    ssh = device.ssh
    if ssh is None:
        raise SshError(f"device {device.name} has no ssh: block in the inventory")
    session = SshSession.open(device)
    tunnel = SshTunnel(lambda: SshSession.open(device), ssh.agent_port, session)
    try:
        listening = tunnel.probe()
    except BaseException:
        tunnel.close()
        raise
    if not listening:
        tunnel.close()
        raise AgentUnreachableError(
            f"device {device.name}: SSH to {ssh.host} works, but no agent listens on the host's "
            f"127.0.0.1:{ssh.agent_port}; check `rigbench agent status {device.name}`, or "
            f"install it: rigbench agent install {device.name}"
        )
    return tunnel
