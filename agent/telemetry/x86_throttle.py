"""Intel thermal/power-limit throttle event counters (`cpu*/thermal_throttle/*_count`).

The counters count events since boot, so each reading is the growth since `open`: a run is
only blamed for what happened during it, and an event between two polls is still seen.
Package-scoped counters are read once per package (every CPU of a package repeats them);
core-scoped counters are summed over all logical CPUs, because siblings of one core were seen
to disagree (node_exporter #1479). `*_power_limit_count` exists only on some CPUs/kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rigbench.agent.telemetry.base import (
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
)
from rigbench.agent.telemetry.sysfs import read_int, read_text, under
from rigbench.errors import TelemetryError

COUNTERS = (
    "core_throttle_count",
    "package_throttle_count",
    "core_power_limit_count",
    "package_power_limit_count",
)


def sensor_for(counter: str) -> str:
    """`core_throttle_count` -> `x86_throttle:core_throttle`."""
    return "x86_throttle:" + counter.removesuffix("_count")


@dataclass(frozen=True)
class CounterFile:
    """One counter file and the sensor it adds to."""

    sensor: str
    path: Path


def find_counters(root: Path) -> list[CounterFile]:
    """Core counters of every CPU, package counters of the first CPU of each package."""
    cpus: list[tuple[int, Path]] = []
    for d in under(root, "/sys/devices/system/cpu").glob("cpu*"):
        m = re.fullmatch(r"cpu(\d+)", d.name)
        if m and (d / "thermal_throttle").is_dir():
            cpus.append((int(m.group(1)), d))
    cpus.sort(key=lambda t: t[0])
    files: list[CounterFile] = []
    packages_seen: set[str] = set()
    for _, d in cpus:
        try:
            package = read_text(d / "topology" / "physical_package_id")
        except TelemetryError:
            package = "0"  # no topology: assume one package (true for the captured boxes)
        first_of_package = package not in packages_seen
        packages_seen.add(package)
        for counter in COUNTERS:
            path = d / "thermal_throttle" / counter
            if not path.exists():
                continue
            if counter.startswith("package_") and not first_of_package:
                continue
            files.append(CounterFile(sensor_for(counter), path))
    return files


def parse_trm_interrupts(proc_interrupts: str) -> int | None:
    """Total thermal event interrupts (`TRM:` line of /proc/interrupts), None if absent."""
    for line in proc_interrupts.splitlines():
        parts = line.split()
        if parts and parts[0] == "TRM:":
            return sum(int(x) for x in parts[1:] if x.isdigit())
    return None


class X86ThrottleSource(TelemetrySource):
    """`x86_throttle:{core,package}_{throttle,power_limit}` throttle_count (growth since open)."""

    name = "x86_throttle"

    def __init__(self, files: list[CounterFile]) -> None:
        super().__init__()
        self._files = files
        self._base = self._totals()

    def _totals(self) -> dict[str, int]:
        """Sum per sensor; a sensor with any unreadable file is left out (a partial sum lies)."""
        totals: dict[str, int] = {}
        broken: set[str] = set()
        for f in self._files:
            try:
                value = read_int(f.path)
            except TelemetryError as e:
                self._problem(f"{f.sensor}: {e}")
                broken.add(f.sensor)
                continue
            totals[f.sensor] = totals.get(f.sensor, 0) + value
        return {k: v for k, v in totals.items() if k not in broken}

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        files = find_counters(env.root)
        if not files:
            return not_available(cls.name, "no thermal_throttle counters (not an Intel CPU?)", env)
        sensors = tuple(dict.fromkeys(f.sensor for f in files))
        detail = f"{len(sensors)} throttle counters"
        try:
            trm = parse_trm_interrupts(read_text(under(env.root, "/proc/interrupts")))
        except TelemetryError:
            trm = None
        if trm is not None:
            detail += f"; {trm} thermal event interrupts since boot"
        return SensorInfo(cls.name, SourceStatus.AVAILABLE, detail, sensors, None, env.simulated)

    @classmethod
    def open(cls, env: SensorEnv) -> X86ThrottleSource:
        files = find_counters(env.root)
        if not files:
            raise TelemetryError("no thermal_throttle counters")
        return cls(files)

    def read(self) -> list[Reading]:
        now = self._totals()
        out = []
        for sensor, total in now.items():
            base = self._base.setdefault(sensor, total)
            out.append(Reading(sensor, "throttle_count", float(max(0, total - base))))
        if not out and self._problems:
            raise TelemetryError("; ".join(self.problems()))
        return out
