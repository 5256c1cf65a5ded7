"""What the user sees while a plan runs.

On a terminal: a live table, one row per device, with jobs done of total, the job running now
and its phase, and an estimate of the time left (from the device's finished jobs). Anywhere
else (CI logs, a pipe): plain lines, one per job event that matters, with the same counts, so
a log reads the same as a terminal. Measuring progress is printed at most every couple of
seconds per job (every event with ``verbose``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO


@dataclass
class DeviceProgress:
    """One device's jobs in this run, as the progress display knows them."""

    total: int = 0
    done: int = 0
    failed: int = 0
    current: str = ""
    phase: str = ""
    iterations: int = 0
    job_started: float = 0.0  # monotonic, of the current job
    durations: list[float] = field(default_factory=list)  # seconds, of finished jobs

    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)

    def eta_s(self, now: float) -> float | None:
        """Seconds left: the mean job so far times the jobs left, less the current one's age."""
        if not self.durations or not self.remaining():
            return None if self.remaining() else 0.0
        mean = sum(self.durations) / len(self.durations)
        running = now - self.job_started if self.current else 0.0
        return max(0.0, mean * self.remaining() - min(running, mean))

    def count(self) -> str:
        return f"{self.done + self.failed}/{self.total}" if self.total else f"{self.done}"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def wants_live(stream: TextIO) -> bool:
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


class ProgressPrinter:
    def __init__(
        self,
        stream: TextIO | None = None,
        quiet: bool = False,
        every_s: float = 2.0,
        verbose: bool = False,
        live: bool | None = None,
    ):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self.every_s = 0.0 if verbose else every_s
        self.live = (not quiet and wants_live(self.stream)) if live is None else live
        self.devices: dict[str, DeviceProgress] = {}
        self._last: dict[str, float] = {}
        self._view: Any = None

    # --- plumbing ---------------------------------------------------------------------------
    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (leaving its last state on screen)."""
        if self._view is not None:
            self._view.stop()
            self._view = None

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self.live:
            self._live().print(text)
        else:
            print(text, file=self.stream, flush=True)

    def _live(self) -> Any:
        if self._view is None:
            self._view = _LiveView(self.stream, self.devices)
        return self._view

    def _refresh(self) -> None:
        if self.live and not self.quiet:
            self._live().refresh()

    def _device(self, name: str) -> DeviceProgress:
        return self.devices.setdefault(name, DeviceProgress())

    # --- events -----------------------------------------------------------------------------
    def info(self, text: str) -> None:
        self._print(text)

    def planned(self, jobs_per_device: Mapping[str, int]) -> None:
        """How many jobs each device has to run (a new phase, e.g. after the canary)."""
        for name, n in jobs_per_device.items():
            self.devices[name] = DeviceProgress(total=n)
        self._refresh()

    def job_started(self, device: str, label: str, attempt: int) -> None:
        self._last.pop(f"{device}/{label}", None)
        d = self._device(device)
        d.current, d.phase, d.iterations, d.job_started = label, "started", 0, time.monotonic()
        again = f" (attempt {attempt})" if attempt > 1 else ""
        if self.live:
            self._refresh()
            if attempt > 1:
                self._print(f"[{device}] {label}: started{again}")
        else:
            self._print(f"[{device}] {label}: started{again}")

    def job_progress(
        self, device: str, label: str, phase: str, iterations: int, elapsed_ns: int
    ) -> None:
        d = self._device(device)
        d.current, d.phase, d.iterations = label, phase, iterations
        if self.live:
            self._refresh()
            return
        key = f"{device}/{label}"
        load = phase.startswith(("offline ", "server "))  # a load point: "server 120 qps"
        if phase == "measuring" or (load and iterations):
            # The first measuring event always shows (a short job measures for less than
            # every_s and would otherwise never say it measured); later ones at most every_s.
            # A load point's start (no requests served yet) always shows.
            now = time.monotonic()
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                return
            self._last[key] = now
        if load:
            served = f", {iterations} requests in {elapsed_ns / 1e9:.1f} s" if iterations else ""
            self._print(f"[{device}] {label}: {phase}{served}")
        elif phase == "measuring":
            if iterations:
                self._print(
                    f"[{device}] {label}: measuring, {iterations} iterations in "
                    f"{elapsed_ns / 1e9:.1f} s"
                )
            else:
                self._print(f"[{device}] {label}: measuring")
        elif phase in ("loading", "warmup", "idle-baseline", "reference"):
            self._print(f"[{device}] {label}: {phase}")

    def job_done(self, device: str, label: str, summary: str) -> None:
        d = self._device(device)
        now = time.monotonic()
        if d.current:
            d.durations.append(now - d.job_started)
        d.done += 1
        d.current, d.phase = "", ""
        eta = d.eta_s(now)
        left = f", about {fmt_duration(eta)} left" if eta else ""
        self._print(f"[{device}] {label}: done ({d.count()}{left}), {summary}")
        self._refresh()

    def job_failed(self, device: str, label: str, kind: str, message: str, retrying: bool) -> None:
        d = self._device(device)
        if not retrying:
            d.failed += 1
            d.current, d.phase = "", ""
        tail = " - retrying" if retrying else f" ({d.count()})"
        self._print(f"[{device}] {label}: FAILED ({kind}): {message}{tail}")
        self._refresh()


class _LiveView:
    """The live table (rich is imported only when a terminal shows it)."""

    def __init__(self, stream: TextIO, devices: dict[str, DeviceProgress]):
        from rich.console import Console
        from rich.live import Live

        self.devices = devices
        self.console = Console(file=stream)
        self._live = Live(
            self._render(),
            console=self.console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self._render,
        )
        self._live.start()

    def _render(self) -> Any:
        from rich.table import Table

        now = time.monotonic()
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col, justify in (
            ("device", "left"),
            ("jobs", "right"),
            ("now", "left"),
            ("", "left"),
            ("left", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for name, d in self.devices.items():
            if d.current:
                age = now - d.job_started
                its = f", {d.iterations} it" if d.iterations else ""
                doing = f"{d.phase}{its}, {fmt_duration(age)}"
            else:
                doing = "finished" if not d.remaining() else ""
            failed = f" ({d.failed} failed)" if d.failed else ""
            table.add_row(
                name, d.count() + failed, d.current or "", doing, fmt_duration(d.eta_s(now))
            )
        return table

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def refresh(self) -> None:
        self._live.refresh()

    def stop(self) -> None:
        self._live.stop()
