"""Running sensor commands (vcgencmd, nvidia-smi, tegrastats, a power meter) without hanging.

Every command a backend runs goes through a `CommandRunner` held by the `SensorEnv`, so tests
and recorded devices replay captured output instead of forking real tools. The real runner
turns every way a command can fail (missing binary, permission, timeout, non-zero exit) into
a `TelemetryError`, so a sampler can skip the sample and record the gap.

`tegrastats` never exits; it streams one line per interval. It is read through a
`LineStream` from a `StreamSpawner`, the streaming twin of the runner.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import IO, Protocol

from rigbench.errors import TelemetryError

CommandRunner = Callable[[Sequence[str], float], str]
"""`run(argv, timeout_s) -> stdout`; raises `TelemetryError` on any failure."""


def run_command(argv: Sequence[str], timeout_s: float) -> str:
    """Run `argv` and return its stdout; a hang, a failure or a missing binary is an error."""
    try:
        done = subprocess.run(  # noqa: S603 - argv comes from the backend, never a shell
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise TelemetryError(f"{argv[0]} did not answer within {timeout_s:g} s") from e
    except FileNotFoundError as e:
        raise TelemetryError(f"{argv[0]} is not installed (not on PATH)") from e
    except PermissionError as e:
        raise TelemetryError(f"{argv[0]} cannot be executed: permission denied") from e
    except OSError as e:
        raise TelemetryError(f"{argv[0]} could not be started: {e}") from e
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        reason = err[-1] if err else "no output"
        raise TelemetryError(f"{' '.join(argv)} exited with status {done.returncode}: {reason}")
    return done.stdout


class LineStream(Protocol):
    """The newest complete line of a long-running command."""

    def latest(self, wait_s: float = 0.0) -> str | None:
        """The newest line not returned before (waiting up to `wait_s` for one), else None."""

    def close(self) -> None:
        """Stop the command."""


StreamSpawner = Callable[[Sequence[str]], LineStream]


class ProcessLineStream:
    """A child process whose stdout lines are collected by a daemon thread.

    The reader thread blocks on the pipe (no polling); `latest()` only takes a lock, so the
    sampler's tick stays cheap.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - argv comes from the backend
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        except OSError as e:
            raise TelemetryError(f"{argv[0]} could not be started: {e}") from e
        self._argv = list(argv)
        self._lock = threading.Lock()
        self._line: str | None = None
        self._fresh = threading.Event()
        self._thread = threading.Thread(
            target=self._pump, name=f"telemetry-{argv[0]}", daemon=True
        )
        self._thread.start()

    def _pump(self) -> None:
        out: IO[str] | None = self._proc.stdout
        if out is None:
            return
        for raw in out:
            line = raw.strip()
            if line:
                with self._lock:
                    self._line = line
                    self._fresh.set()
        self._fresh.set()  # wake a waiter: the command ended

    def latest(self, wait_s: float = 0.0) -> str | None:
        if wait_s > 0:
            self._fresh.wait(wait_s)
        with self._lock:
            line, self._line = self._line, None
            self._fresh.clear()
        if line is None and self._proc.poll() is not None:
            raise TelemetryError(
                f"{self._argv[0]} exited with status {self._proc.returncode}"
            )
        return line

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._thread.join(timeout=2.0)


def spawn_lines(argv: Sequence[str]) -> LineStream:
    """Start a long-running command and follow its output (the real `StreamSpawner`)."""
    return ProcessLineStream(argv)
