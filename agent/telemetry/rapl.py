"""CPU package/core/DRAM energy from RAPL via powercap (Intel; AMD Zen through intel_rapl_msr).

Pitfalls this module exists to get right (fixtures/telemetry/x86, README section C):

* `energy_uj` only grows and wraps to 0 after `max_energy_range_uj` (~262 kJ, minutes at high
  power): `EnergyCounter` unwraps it. Readings are the energy since `open`, so values stay far
  below 2**53 and exact as floats even when the raw counter has 14 digits.
* Since the CVE-2020-8694 fix `energy_uj` is root-only while every other file is readable:
  the source then reports NEEDS_PERMISSION with the fix, not "not available".
* A zone is named by its `name` file, not its index (`intel-rapl:1` is `psys` on a laptop and
  `package-1` on a server). Newer Intel parts duplicate zones under `intel-rapl-mmio`; the
  MMIO one wins, as in codecarbon.
* Zones nest: `core`/`uncore` are inside `package`, `dram` is not, `psys` covers everything.
  `rapl:total` is therefore `psys` when present, else every package plus every dram zone,
  never the sum of all zones (which over-counts up to 2x).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rigbench.agent.telemetry.base import (
    EnergyRole,
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
    total_sensor,
)
from rigbench.agent.telemetry.counters import EnergyCounter
from rigbench.agent.telemetry.sysfs import is_permission_denied, read_int, read_text, under
from rigbench.errors import TelemetryError

UPDATE_PERIOD_S = 0.001  # the RAPL energy status MSRs refresh about every millisecond
_ZONE_DIR = re.compile(r"^(?P<kind>[a-z-]*rapl[a-z-]*)(?P<ids>(?::\d+)+)$")
_CONTROL_TYPE_DIR = re.compile(r"^[a-z-]*rapl[a-z-]*$")  # `intel-rapl`, holding the zones

PERMISSION_FIX = (
    "energy_uj is readable by root only (CVE-2020-8694 fix). Either run the agent as root, "
    "or grant read access: `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` "
    "(lost at reboot), or persistently with a udev rule such as "
    '`SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod a+r /sys%p/energy_uj"` '
    "or sysfsutils `mode class/powercap/intel-rapl:0/energy_uj = 0444`"
)


def wrap_period_s(max_range_uj: int, power_w: float) -> float | None:
    """How long the counter takes to wrap at `power_w`: the sampler must poll faster than this."""
    return max_range_uj / 1e6 / power_w if power_w > 0 else None


@dataclass(frozen=True)
class Zone:
    """One powercap RAPL zone."""

    sensor: str  # "rapl:package-0", "rapl:package-0/core"
    name: str  # the `name` file: package-0, core, uncore, dram, psys
    top_level: bool
    mmio: bool
    path: Path


def _zone_dirs(base: Path) -> list[Path]:
    """Zone directories at any depth (sysfs has both flat symlinks and nested dirs).

    Only zone and control-type directories are entered, never `subsystem`/`device` links,
    which loop back up the tree.
    """
    found: dict[Path, Path] = {}
    visited: set[Path] = set()
    stack = [base]
    while stack:
        d = stack.pop()
        try:
            children = sorted(d.iterdir())
        except OSError:
            continue
        for child in children:
            is_zone = _ZONE_DIR.match(child.name) is not None
            if not (is_zone or _CONTROL_TYPE_DIR.match(child.name)) or not child.is_dir():
                continue
            real = child.resolve()
            if is_zone and real not in found:
                found[real] = child
            if real not in visited:
                visited.add(real)
                stack.append(child)
    return sorted(found.values(), key=lambda p: p.name)


def find_zones(root: Path) -> list[Zone]:
    """Deduplicated RAPL zones, named `rapl:<name>` or `rapl:<parent>/<name>`."""
    dirs = _zone_dirs(under(root, "/sys/class/powercap"))
    names: dict[str, str] = {}
    for d in dirs:
        try:
            names[d.name] = read_text(d / "name")
        except TelemetryError:
            continue
    zones: dict[str, Zone] = {}
    for d in dirs:
        m = _ZONE_DIR.match(d.name)
        if m is None or d.name not in names or not (d / "energy_uj").exists():
            continue
        ids = m.group("ids")
        top = ids.count(":") == 1
        parent = f"{m.group('kind')}{ids.rsplit(':', 1)[0]}"
        if top:
            sensor = f"rapl:{names[d.name]}"
        else:
            sensor = f"rapl:{names.get(parent, parent)}/{names[d.name]}"
        mmio = "mmio" in m.group("kind")
        zone = Zone(sensor, names[d.name], top, mmio, d)
        if sensor not in zones or (mmio and not zones[sensor].mmio):
            zones[sensor] = zone
    return sorted(zones.values(), key=lambda z: z.sensor)


def total_members(zones: list[Zone]) -> list[Zone]:
    """The zones whose sum is the CPU-side total without double counting."""
    psys = [z for z in zones if z.top_level and z.name == "psys"]
    if psys:
        return psys
    return [
        z for z in zones if (z.top_level and z.name.startswith("package")) or z.name == "dram"
    ]


class RaplSource(TelemetrySource):
    """`rapl:<zone>` energy_uj (since open) per zone, plus `rapl:total`."""

    name = "rapl"
    energy_role = EnergyRole.PART
    covers = "CPU packages and DRAM only (RAPL), not the whole machine"

    def __init__(self, zones: list[Zone]) -> None:
        super().__init__()
        self._zones = zones
        self._members = {z.sensor for z in total_members(zones)}
        self._counters: dict[str, EnergyCounter] = {}
        for z in zones:
            try:
                max_range = read_int(z.path / "max_energy_range_uj")
            except TelemetryError:
                max_range = None
            self._counters[z.sensor] = EnergyCounter(read_int(z.path / "energy_uj"), max_range)

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        zones = find_zones(env.root)
        if not zones:
            return not_available(
                cls.name,
                "no RAPL zones under /sys/class/powercap (not x86, a VM, a container without "
                "/sys/class/powercap mounted, or a CPU family the kernel's RAPL driver lacks)",
                env,
            )
        sensors = tuple(z.sensor for z in zones) + (total_sensor(cls.name),)
        members = ", ".join(z.name for z in total_members(zones)) or "none"
        if any(is_permission_denied(z.path / "energy_uj") for z in zones):
            return SensorInfo(
                cls.name, SourceStatus.NEEDS_PERMISSION, PERMISSION_FIX, sensors,
                UPDATE_PERIOD_S, env.simulated,
            )
        detail = f"{len(zones)} RAPL zones; rapl:total = {members}"
        package = next((z for z in zones if z.top_level and z.name.startswith("package")), None)
        if package is not None:
            try:
                max_range = read_int(package.path / "max_energy_range_uj")
                max_w = read_int(package.path / "constraint_0_max_power_uw") / 1e6
                period = wrap_period_s(max_range, max_w)
                if period is not None:
                    detail += f"; the counter wraps after {period / 60:.0f} min at {max_w:g} W"
            except TelemetryError:
                pass
        return SensorInfo(
            cls.name,
            SourceStatus.AVAILABLE,
            detail,
            sensors,
            UPDATE_PERIOD_S,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> RaplSource:
        zones = find_zones(env.root)
        if not zones:
            raise TelemetryError("no RAPL zones under /sys/class/powercap")
        if any(is_permission_denied(z.path / "energy_uj") for z in zones):
            raise TelemetryError(PERMISSION_FIX)
        return cls(zones)

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        total = 0
        complete = True
        for z in self._zones:
            try:
                value = self._counters[z.sensor].update(read_int(z.path / "energy_uj"))
            except TelemetryError as e:
                self._problem(f"{z.sensor}: {e}")
                complete = complete and z.sensor not in self._members
                continue
            out.append(Reading(z.sensor, "energy_uj", float(value)))
            if z.sensor in self._members:
                total += value
        if not out:
            raise TelemetryError("; ".join(self.problems()) or "no RAPL zone could be read")
        if complete and self._members:
            out.append(Reading(total_sensor(self.name), "energy_uj", float(total)))
        return out
