"""CPU clocks per core from cpufreq, and a lowered frequency ceiling as a throttle hint.

`scaling_cur_freq` (kHz) is what the governor asked for, not a measured clock; on a Raspberry
Pi it does not show firmware throttling at all (the rpi backend reads the real clock). What
cpufreq does show is a thermal cooling device lowering `scaling_max_freq` while the benchmark
runs (common on ARM boards). The ceiling at `open` is the reference, so a fixed cap set before
the run (nvpmodel, a power profile) is not mistaken for throttling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rigbench.agent.telemetry.base import (
    ClockFamily,
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
)
from rigbench.agent.telemetry.sysfs import read_int, under
from rigbench.errors import TelemetryError


@dataclass(frozen=True)
class CoreFreq:
    """The cpufreq directory of one logical CPU."""

    cpu: str  # "cpu0"
    path: Path


def find_cores(root: Path) -> list[CoreFreq]:
    """Logical CPUs that have a cpufreq directory with `scaling_cur_freq`, in numeric order."""
    cores: list[tuple[int, CoreFreq]] = []
    for d in under(root, "/sys/devices/system/cpu").glob("cpu*"):
        m = re.fullmatch(r"cpu(\d+)", d.name)
        if m and (d / "cpufreq" / "scaling_cur_freq").exists():
            cores.append((int(m.group(1)), CoreFreq(d.name, d / "cpufreq")))
    return [c for _, c in sorted(cores, key=lambda t: t[0])]


class CpufreqSource(TelemetrySource):
    """`cpufreq:cpuN` clock_khz, and `cpufreq:cpuN:max-lowered` throttled."""

    name = "cpufreq"
    clocks = ClockFamily(
        "cpufreq", 1, lambda s: s.startswith("cpufreq:cpu") and s.count(":") == 1
    )

    def __init__(self, cores: list[CoreFreq]) -> None:
        super().__init__()
        self._cores = cores
        self._ceiling: dict[str, int] = {}
        for core in cores:
            try:
                self._ceiling[core.cpu] = read_int(core.path / "scaling_max_freq")
            except TelemetryError:
                pass

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        cores = find_cores(env.root)
        if not cores:
            return not_available(cls.name, "no cpufreq (VM, container or driver missing)", env)
        return SensorInfo(
            cls.name,
            SourceStatus.AVAILABLE,
            f"{len(cores)} cores; scaling_cur_freq is the governor's request, not a measured "
            "clock",
            tuple(f"cpufreq:{c.cpu}" for c in cores),
            None,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> CpufreqSource:
        cores = find_cores(env.root)
        if not cores:
            raise TelemetryError("no cpufreq directories")
        return cls(cores)

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        for core in self._cores:
            try:
                khz = read_int(core.path / "scaling_cur_freq")
            except TelemetryError as e:
                self._problem(f"cpufreq:{core.cpu}: {e}")  # e.g. the core went offline
                continue
            if khz > 0:
                out.append(Reading(f"cpufreq:{core.cpu}", "clock_khz", float(khz)))
            ceiling = self._ceiling.get(core.cpu)
            if ceiling is None:
                continue
            try:
                now_max = read_int(core.path / "scaling_max_freq")
            except TelemetryError:
                continue
            lowered = 1.0 if now_max < ceiling else 0.0
            out.append(Reading(f"cpufreq:{core.cpu}:max-lowered", "throttled", lowered))
        if not out and self._problems:
            raise TelemetryError("; ".join(self.problems()))
        return out
