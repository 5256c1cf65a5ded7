"""How long an agent lives, and where: one agent per home, gone when its controller is gone.

Two agents on one home would each close the other's running job as crashed, and measure the
same machine at the same time. So an agent holds an exclusive lock on ``<home>/agent.lock``
while it serves; a second one on the same home is refused, naming the first. A controller
that starts a local agent takes the lock itself first (waiting while another run's agent
holds it, so concurrent runs queue on the one device) and hands it to the agent it starts;
the lock is free again only when both are gone.

An agent started by a controller watches that process and stops when it dies (a pidfd where
Linux has one; else the parent-death signal), so a killed controller leaves nothing measuring.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from rigbench.errors import AgentError

LOCK_NAME = "agent.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one agent per home is not enforced
    fcntl = None  # type: ignore[assignment]


def lock_path(home: Path) -> Path:
    return home / LOCK_NAME


def open_lock(home: Path) -> int:
    home.mkdir(parents=True, exist_ok=True)
    return os.open(lock_path(home), os.O_RDWR | os.O_CREAT, 0o644)


def try_lock(fd: int) -> bool:
    """Take the home's lock on ``fd`` if it is free (or already ours); False if held."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(home: Path) -> str:
    """Who holds the home's lock, as its file says (the pid of the agent serving it)."""
    try:
        text = lock_path(home).read_text().strip()
    except OSError:
        return "another process"
    return f"pid {text}" if text.isdigit() else "another process"


def hold_home(home: Path, inherited_fd: int | None = None) -> int:
    """Hold the home's lock for this agent's life; refuse when another agent holds it.

    ``inherited_fd``: the lock a controller took for this agent and passed on.
    """
    fd = inherited_fd if inherited_fd is not None else open_lock(home)
    if not try_lock(fd):
        who = holder(home)
        os.close(fd)
        raise AgentError(
            f"another agent ({who}) already serves {home}; one agent per home: stop it, or "
            "give this one another --home"
        )
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def watch_process(pid: int, on_exit: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_exit`` (on the running loop) once process ``pid`` has exited.

    Returns a function that stops watching.
    """
    loop = asyncio.get_running_loop()
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            loop.call_soon(on_exit)
            return lambda: None
        except OSError:
            fd = -1
        if fd >= 0:

            def fire() -> None:
                loop.remove_reader(fd)
                on_exit()

            loop.add_reader(fd, fire)

            def stop() -> None:
                loop.remove_reader(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)

            return stop
    # No pidfd (old kernel, not Linux): ask for a signal when the parent dies, if it is ours.
    _parent_death_signal()
    if os.getppid() != pid:
        loop.call_soon(on_exit)
    return lambda: None


def _parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
