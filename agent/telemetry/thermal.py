"""Kernel thermal zones (/sys/class/thermal/thermal_zone*/{type,temp}), in millidegrees C.

Zone numbers differ per board and boot, so a zone is identified by its `type` (`acpitz`,
`x86_pkg_temp`, `cpu-thermal`, Jetson `CPU-therm` or `tj-thermal`). Zones of powered-off
blocks read exactly 0 (Jetson `cv0-thermal` while the CV cluster is off) or -256 C (the value
Jetson tools use for "offline"); those are "not available", not temperatures. Jetson's
`PMIC-Die` zone is a constant placeholder (100 C), so it is not listed at all.
"""

from __future__ import annotations

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

MIN_PLAUSIBLE_MC = -40_000  # below any operating range: -256000 is Jetson's "offline"
MAX_PLAUSIBLE_MC = 150_000
PLACEHOLDER_ZONES = ("PMIC-Die",)


def plausible_temp_mc(value_mc: int) -> bool:
    """Whether a millidegree reading can be a real die/board temperature.

    Exactly 0 is what a power-gated zone reports; a running chip is never at 0.000 C.
    """
    return value_mc != 0 and MIN_PLAUSIBLE_MC < value_mc <= MAX_PLAUSIBLE_MC


@dataclass(frozen=True)
class Zone:
    """One thermal zone: its sensor id and temp file."""

    sensor: str
    temp: Path


def find_zones(root: Path) -> list[Zone]:
    """All zones with a readable type, named `thermal:<type>` (zone index added on clashes)."""
    base = under(root, "/sys/class/thermal")
    found: list[tuple[int, str, Path]] = []
    for d in base.glob("thermal_zone*"):
        suffix = d.name.removeprefix("thermal_zone")
        if not suffix.isdigit():
            continue
        try:
            kind = read_text(d / "type")
        except TelemetryError:
            continue
        if kind in PLACEHOLDER_ZONES or not (d / "temp").exists():
            continue
        found.append((int(suffix), kind, d / "temp"))
    found.sort()
    counts: dict[str, int] = {}
    for _, kind, _ in found:
        counts[kind] = counts.get(kind, 0) + 1
    return [
        Zone(f"thermal:{kind}" if counts[kind] == 1 else f"thermal:{kind}@zone{idx}", temp)
        for idx, kind, temp in found
    ]


class ThermalSource(TelemetrySource):
    """`thermal:<type>` temp_mc for every zone that reads a plausible value."""

    name = "thermal"

    def __init__(self, zones: list[Zone]) -> None:
        super().__init__()
        self._zones = zones

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        zones = find_zones(env.root)
        if not zones:
            return not_available(cls.name, "no thermal zones under /sys/class/thermal", env)
        source = cls(zones)
        try:
            live = {r.sensor for r in source.read()}
        except TelemetryError as e:
            return not_available(cls.name, f"thermal zones unreadable: {e}", env)
        return SensorInfo(
            cls.name,
            SourceStatus.AVAILABLE,
            f"{len(zones)} thermal zones, {len(live)} reading now",
            tuple(z.sensor for z in zones),
            None,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> ThermalSource:
        zones = find_zones(env.root)
        if not zones:
            raise TelemetryError("no thermal zones under /sys/class/thermal")
        return cls(zones)

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        for zone in self._zones:
            try:
                value = read_int(zone.temp)
            except TelemetryError as e:
                self._problem(f"{zone.sensor}: {e}")
                continue
            if plausible_temp_mc(value):
                out.append(Reading(zone.sensor, "temp_mc", float(value)))
            elif value > MAX_PLAUSIBLE_MC:
                self._problem(f"{zone.sensor}: implausible temperature {value} mC")
        if not out and self._problems:
            raise TelemetryError("; ".join(self.problems()))
        return out
