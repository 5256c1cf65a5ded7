"""A manual clock for the agent's sampler and lease: time moves only when asked to.

With it, "a lease lapses after two seconds" and "the sampler ticks every 50 ms" are checked in
the clock's own time, exactly, however loaded the machine running the tests is.
"""

from __future__ import annotations

import threading

START_NS = 1_000_000_000_000


class ManualClock:
    """``now_ns`` moves by ``advance`` and by every ``wait`` of the code under test.

    ``until_s`` bounds it: a wait that would pass it sets ``reached`` and blocks until the
    caller stops the code under test (so a sampler thread runs exactly until then).
    """

    def __init__(self, until_s: float | None = None) -> None:
        self._now_ns = START_NS
        self._end_ns = None if until_s is None else START_NS + int(until_s * 1e9)
        self.reached = threading.Event()

    @property
    def elapsed_s(self) -> float:
        return (self._now_ns - START_NS) / 1e9

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, seconds: float) -> None:
        self._now_ns += int(seconds * 1e9)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if stop.is_set():
            return True
        step = int(max(0.0, seconds) * 1e9)
        if self._end_ns is not None and self._now_ns + step > self._end_ns:
            self.reached.set()
            return stop.wait()
        self._now_ns += step
        return stop.is_set()

    def run_until_reached(self, timeout_s: float = 60.0) -> None:
        """Wait (in real time, generously) until the code under test used up ``until_s``."""
        if not self.reached.wait(timeout_s):
            raise AssertionError(f"the clock never reached its end in {timeout_s:g} s")
