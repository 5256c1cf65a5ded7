"""hwmon chips: CPU temperatures (coretemp, k10temp, acpitz ...) and power/energy where exposed.

A chip is found by its `name` file, never by `hwmon<N>` (the index changes across boots).
Values: `temp*_input` millidegrees C, `power*_input`/`power*_average` microwatts, `energy*_input`
microjoules. Two AMD pitfalls are handled here:

* k10temp `temp1` is Tctl, the fan-control value that may carry an offset; when the chip also
  has Tdie (`temp2`), Tctl is skipped so peak temperature is the die's.
* On family 15h the k10temp value is on a relative, non-physical scale (lm-sensors #264), so it
  is not reported as a temperature at all.

INA3221 chips belong to the Jetson backend, which knows their channel layout. Power and energy
channels are kept as a timeline only: which device a chip's `power1` covers (CPU, GPU, VRM) is
not knowable from sysfs, so the summary never takes its energy figure from hwmon.
`parse_sensors` reads lm-sensors text (`sensors`, `sensors -u`), the format most public
captures use; the recorded devices turn it back into a hwmon tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rigbench.agent.telemetry.base import (
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
)
from rigbench.agent.telemetry.counters import EnergyCounter
from rigbench.agent.telemetry.sysfs import is_permission_denied, read_int, read_text, under
from rigbench.agent.telemetry.thermal import plausible_temp_mc
from rigbench.errors import TelemetryError

SKIPPED_CHIPS = frozenset({"ina3221"})  # read by the jetson backend
AMD_FAMILY_15H = 0x15


@dataclass(frozen=True)
class Channel:
    """One hwmon value file and how to turn it into a reading."""

    sensor: str
    metric: str
    path: Path
    scale: float  # multiply the raw integer by this to get the metric's unit


@dataclass
class ChipScan:
    """What was found under /sys/class/hwmon."""

    channels: list[Channel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def amd_cpu_family(root: Path) -> int | None:
    """The CPU family from /proc/cpuinfo when the vendor is AMD, else None."""
    try:
        text = read_text(under(root, "/proc/cpuinfo"))
    except TelemetryError:
        return None
    if "AuthenticAMD" not in text:
        return None
    m = re.search(r"^cpu family\s*:\s*(\d+)", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _label(chip_dir: Path, stem: str) -> str:
    try:
        return read_text(chip_dir / f"{stem}_label") or stem
    except TelemetryError:
        return stem


def _index(path: Path, kind: str) -> int:
    digits = path.name.removeprefix(kind).split("_", 1)[0]
    return int(digits) if digits.isdigit() else -1


def scan_chips(root: Path) -> ChipScan:
    """Every temperature, power and energy channel of every hwmon chip we handle."""
    scan = ChipScan()
    chips: list[tuple[int, str, Path]] = []
    for d in under(root, "/sys/class/hwmon").glob("hwmon*"):
        idx = d.name.removeprefix("hwmon")
        try:
            chip = read_text(d / "name")
        except TelemetryError:
            continue
        if idx.isdigit() and chip not in SKIPPED_CHIPS:
            chips.append((int(idx), chip, d))
    chips.sort()
    seen: dict[str, int] = {}
    family = amd_cpu_family(root)
    for _, chip, d in chips:
        n = seen.get(chip, 0)
        seen[chip] = n + 1
        chip_id = chip if n == 0 else f"{chip}#{n}"
        temps = sorted(d.glob("temp*_input"), key=lambda p: _index(p, "temp"))
        if chip == "k10temp" and family == AMD_FAMILY_15H:
            scan.notes.append(
                "k10temp on AMD family 15h reports a relative scale, not degrees: skipped"
            )
            temps = []
        if chip == "k10temp" and (d / "temp2_input").exists():
            temps = [p for p in temps if p.name != "temp1_input"]  # Tctl carries an offset
        for p in temps:
            stem = p.name.removesuffix("_input")
            scan.channels.append(Channel(f"hwmon:{chip_id}:{_label(d, stem)}", "temp_mc", p, 1.0))
        for kind in ("power", "energy"):
            for p in sorted(d.glob(f"{kind}*_input"), key=lambda p: _index(p, kind)):
                stem = p.name.removesuffix("_input")
                if kind == "power":
                    ch = Channel(f"hwmon:{chip_id}:{_label(d, stem)}", "power_mw", p, 1e-3)
                else:
                    ch = Channel(f"hwmon:{chip_id}:{_label(d, stem)}", "energy_uj", p, 1.0)
                scan.channels.append(ch)
            if kind == "power":
                for p in sorted(d.glob("power*_average"), key=lambda p: _index(p, kind)):
                    stem = p.name.removesuffix("_average")
                    if not (d / f"{stem}_input").exists():
                        sensor = f"hwmon:{chip_id}:{_label(d, stem)}"
                        scan.channels.append(Channel(sensor, "power_mw", p, 1e-3))
    return scan


class HwmonSource(TelemetrySource):
    """`hwmon:<chip>:<label>` temp_mc / power_mw / energy_uj."""

    name = "hwmon"

    def __init__(self, channels: list[Channel]) -> None:
        super().__init__()
        self._channels = channels
        self._counters: dict[str, EnergyCounter] = {}

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        try:
            scan = scan_chips(env.root)
        except OSError as e:
            return not_available(cls.name, f"/sys/class/hwmon unreadable: {e}", env)
        if not scan.channels:
            detail = "; ".join(scan.notes) or "no hwmon temperature/power channels"
            return not_available(cls.name, detail, env)
        locked = [c for c in scan.channels if is_permission_denied(c.path)]
        readable = [c for c in scan.channels if c not in locked]
        notes = list(scan.notes)
        if locked:
            notes.append(
                f"{len(locked)} channels are root-only (e.g. {locked[0].path.name}); "
                "grant read access with a udev rule or `sudo chmod a+r` on those files"
            )
        status = SourceStatus.AVAILABLE if readable else SourceStatus.NEEDS_PERMISSION
        return SensorInfo(
            cls.name,
            status,
            "; ".join([f"{len(readable)} hwmon channels"] + notes),
            tuple(c.sensor for c in readable or locked),
            None,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> HwmonSource:
        channels = [c for c in scan_chips(env.root).channels if not is_permission_denied(c.path)]
        if not channels:
            raise TelemetryError("no readable hwmon channels")
        return cls(channels)

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        for ch in self._channels:
            try:
                raw = read_int(ch.path)
            except TelemetryError as e:
                self._problem(f"{ch.sensor}: {e}")
                continue
            if ch.metric == "temp_mc" and not plausible_temp_mc(raw):
                continue
            if ch.metric != "temp_mc" and raw < 0:
                self._problem(f"{ch.sensor}: negative {ch.metric} {raw}")
                continue
            if ch.metric == "energy_uj":  # a counter: report growth since open, like RAPL
                counter = self._counters.setdefault(ch.sensor, EnergyCounter(raw, None))
                try:
                    raw = counter.update(raw)
                except TelemetryError as e:
                    self._problem(f"{ch.sensor}: {e}")
                    continue
            out.append(Reading(ch.sensor, ch.metric, raw * ch.scale))
        if not out and self._problems:
            raise TelemetryError("; ".join(self.problems()))
        return out


# --- lm-sensors text ------------------------------------------------------------------------

_CHIP_RE = re.compile(r"^(?P<driver>[A-Za-z0-9_]+)-[a-z0-9]+-[0-9a-fA-F]+$")
_VALUE_RE = re.compile(
    r"^(?P<label>[^:()]+?):\s+(?P<value>[+-]?\d+(?:\.\d+)?|N/A)\s*(?P<unit>°C|C|mW|W|mV|V|A|J|RPM)?"
)
_SUBFEATURE_RE = re.compile(r"^\s+(?P<name>[a-z]+\d*_[a-z_]+):\s+(?P<value>[+-]?\d+(?:\.\d+)?)$")


@dataclass
class SensorsValue:
    """One line of `sensors` output. `value` is None for `N/A`; `sysfs` is known with `-u`."""

    label: str
    value: float | None
    unit: str
    sysfs: str | None = None  # e.g. "temp1" from `sensors -u`


@dataclass
class SensorsChip:
    """One chip block of `sensors` output."""

    chip: str  # "k10temp-pci-00c3"
    driver: str  # "k10temp": the hwmon `name`
    adapter: str = ""
    values: list[SensorsValue] = field(default_factory=list)


_UNIT_BY_KIND = {"temp": "°C", "power": "W", "in": "V", "curr": "A", "energy": "J", "fan": "RPM"}


def parse_sensors(text: str) -> list[SensorsChip]:
    """Chips and their values from `sensors` or `sensors -u` output (shell prompts ignored)."""
    chips: list[SensorsChip] = []
    current: SensorsChip | None = None
    feature: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("$"):
            continue
        chip = _CHIP_RE.match(stripped)
        if chip and not line.startswith(" "):
            current = SensorsChip(stripped, chip.group("driver"))
            chips.append(current)
            feature = None
            continue
        if current is None:
            continue
        if stripped.startswith("Adapter:"):
            current.adapter = stripped.partition(":")[2].strip()
            continue
        sub = _SUBFEATURE_RE.match(line)
        if sub and feature is not None:
            name = sub.group("name")
            if name.endswith("_input"):
                stem = name.removesuffix("_input")
                kind = re.sub(r"\d+$", "", stem)
                unit = _UNIT_BY_KIND.get(kind, "")
                current.values.append(SensorsValue(feature, float(sub.group("value")), unit, stem))
            continue
        if line.startswith(" "):
            continue  # continuation of limits: "(crit = +70.0°C, hyst = +69.0°C)"
        if stripped.endswith(":"):
            feature = stripped[:-1]  # `sensors -u` feature header
            continue
        m = _VALUE_RE.match(stripped)
        if m:
            raw = m.group("value")
            value = None if raw == "N/A" else float(raw)
            unit = m.group("unit") or ""
            current.values.append(SensorsValue(m.group("label").strip(), value, unit))
    return chips
