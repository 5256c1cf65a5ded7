"""Unwrapping hardware energy counters (RAPL `energy_uj`, NVML total energy).

Counters only grow, but RAPL wraps to 0 after `max_energy_range_uj` and NVML's restarts when
the driver reloads. Readings carry the growth since the source was opened, so the values stay
small (exact as floats) and a summary can subtract any two of them.
"""

from __future__ import annotations

from rigbench.errors import TelemetryError


class EnergyCounter:
    """Growth of a counter that restarts at 0 after `max_range`; feed it faster than one wrap.

    With an unknown range a step backwards cannot be undone: it is reported as an error (a
    reset), and counting restarts from the new value without losing what was counted.
    """

    def __init__(self, first_raw: int, max_range: int | None) -> None:
        self._last = first_raw
        self._max = max_range if max_range and max_range > 0 else None
        self.total = 0

    def update(self, raw: int) -> int:
        """Feed the next raw value; return the growth since the first one."""
        delta = raw - self._last
        self._last = raw
        if delta < 0:
            if self._max is None:
                raise TelemetryError("energy counter went backwards (reset) and has no wrap range")
            delta += self._max
        self.total += delta
        return self.total
