"""What the user sees while a plan runs: one line per job event that matters.

Plain lines (not a redrawn screen) so CI logs read the same as a terminal; measuring progress
is shown at most every couple of seconds per device.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False, every_s: float = 2.0):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def info(self, text: str) -> None:
        self._print(text)

    def job_started(self, device: str, label: str, attempt: int) -> None:
        self._last.pop(f"{device}/{label}", None)
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._print(f"[{device}] {label}: started{again}")

    def job_progress(
        self, device: str, label: str, phase: str, iterations: int, elapsed_ns: int
    ) -> None:
        key = f"{device}/{label}"
        if phase == "measuring":
            # The first measuring event always shows (a short job measures for less than
            # every_s and would otherwise never say it measured); later ones at most every_s.
            now = time.monotonic()
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                return
            self._last[key] = now
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
        self._print(f"[{device}] {label}: done, {summary}")

    def job_failed(self, device: str, label: str, kind: str, message: str, retrying: bool) -> None:
        tail = " - retrying" if retrying else ""
        self._print(f"[{device}] {label}: FAILED ({kind}): {message}{tail}")
