"""The agent's clock, injectable: the sampler and the lease read time only through it.

The system clock is ``time.perf_counter_ns`` (CLOCK_MONOTONIC on Linux, shared by every
process on the machine, so telemetry lines up with the worker's latencies). A test gives a
manual clock instead, so "after two seconds" means two seconds of its time, not of a loaded
machine's.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait ``seconds``, or less if ``stop`` is set; True when it is set."""


class SystemClock:
    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
