"""NVIDIA Jetson power rails, board power, GPU/EMC load and SoC temperatures.

Two ways in, the first that works wins:

* INA3221 sysfs, cheap and pull-based. JetPack 4: `ina3221x/<bus-addr>/iio:device*/`
  `rail_name_<n>` + `in_power<n>_input` (mW, channels 0-2). JetPack 5/6: `ina3221/<bus-addr>/
  hwmon/hwmon*/in<k>_label`, `in<k>_input` (mV), `curr<k>_input` (mA), channels 1-3, no power
  file (P = mV * mA / 1000), channel 7 is the "sum of shunt voltages", `NC` = not connected.
* `tegrastats`, a streaming process; its line format changed in every generation
  (fixtures/telemetry/jetson, README section B): bare `cur/avg` mW on JP4, `mW` suffixes on
  JP5+, three values on JP7; `CPU@` became `cpu@`; `-256C` means offline and `PMIC@100C` is a
  placeholder; AGX Orin prints `NC` twice; old L4T 28 puts one frequency after the CPU list.

Board power (`jetson:total`) is the module input rail (`VDD_IN`, `POM_5V_IN`) where one exists:
the other rails are parts of it, so adding them would double count. Modules without an input
rail (AGX Xavier, AGX Orin) get the sum of their rails, and the summed rails are listed.
NVML on JetPack 4/5 does not report power, so this backend is the only power source there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rigbench.agent.telemetry.base import (
    ClockFamily,
    EnergyRole,
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
    total_sensor,
)
from rigbench.agent.telemetry.commands import LineStream
from rigbench.agent.telemetry.sysfs import read_int, read_text, under
from rigbench.errors import TelemetryError

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
NOT_CONNECTED = "NC"
OFFLINE_C = -256.0
PLACEHOLDER_SENSORS = frozenset({"pmic"})  # PMIC@100C / PMIC@50C is a constant, not a reading
TEGRASTATS_INTERVAL_MS = 500
SKIPPED_ENGINES = frozenset({"APE"})  # the audio engine runs at a fixed clock


# --- board power ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardPower:
    """Board power and how it was obtained."""

    power_mw: float
    rails: tuple[str, ...]  # the rails it is made of
    input_rail: bool  # True: one input rail; False: a sum of rails (no input rail exists)

    def describe(self) -> str:
        """Human text for SensorInfo/notes."""
        if self.input_rail:
            return f"jetson:total = input rail {self.rails[0]}"
        return "jetson:total = sum of " + " + ".join(self.rails) + " (no input rail)"


def board_power(rails: list[tuple[str, float]]) -> BoardPower | None:
    """The input rail if the module has one, else the sum of the connected rails."""
    connected = [(n, mw) for n, mw in rails if n != NOT_CONNECTED]
    for name in INPUT_RAILS:
        for rail, mw in connected:
            if rail == name:
                return BoardPower(mw, (rail,), True)
    if not connected:
        return None
    return BoardPower(sum(mw for _, mw in connected), tuple(n for n, _ in connected), False)


def rail_readings(rails: list[tuple[str, float]]) -> list[Reading]:
    """`jetson:<rail>` power_mw for connected rails, plus `jetson:total`."""
    out = [Reading(f"jetson:{n}", "power_mw", mw) for n, mw in rails if n != NOT_CONNECTED]
    board = board_power(rails)
    if board is not None:
        out.append(Reading(total_sensor("jetson"), "power_mw", board.power_mw))
    return out


# --- tegrastats -------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}\s+")
_RAM_RE = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP_RE = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU_RE = re.compile(r"\b[Cc][Pp][Uu] \[([^\]]*)\](?:@(\d+))?")
_CORE_RE = re.compile(r"^(\d+)%(?:@(\d+))?$")
_LOAD_RE = re.compile(r"\b(EMC_FREQ|EMC|GR3D_FREQ|GR3D2_FREQ|GR3D) (?:(\d+)%)?(?:@\[?([\d,]+)\]?)?")
_TEMP_RE = re.compile(
    r"(?<![\w%])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C(?:/-?[\d.]+C)?(?=\s|$)"
)
_RAIL_RE = re.compile(
    r"(?<!\S)([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)"
)
_ENGINE_RE = re.compile(
    r"(?<!\S)(NVENC\d?|NVDEC\d?|NVJPG\d?|MSENC|VIC(?:_FREQ)?|OFA|APE|NVDLA\d|PVA\d_FREQ)"
    r"\s+(off|\d+)(?=\s|$)"
)


@dataclass(frozen=True)
class Rail:
    """One `NAME cur/avg[/...]` power field. avg is tegrastats' running mean since it started."""

    name: str
    power_mw: float
    avg_mw: float


@dataclass
class TegrastatsSample:
    """One parsed tegrastats line. Missing fields stay None / empty (non-root, old L4T)."""

    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    swap_used_mb: int | None = None
    cpus: list[tuple[int, int | None] | None] = field(default_factory=list)  # None = off
    emc_pct: int | None = None
    emc_mhz: int | None = None
    gpu_pct: int | None = None
    gpu_mhz: list[int] = field(default_factory=list)  # one per GPC on JP6+
    gpu2_pct: int | None = None
    gpu2_mhz: list[int] = field(default_factory=list)
    temps_c: dict[str, float] = field(default_factory=dict)  # lower-case names, offline dropped
    offline: list[str] = field(default_factory=list)  # sensors printed as -256C
    rails: list[Rail] = field(default_factory=list)  # in printed order, duplicates (NC) kept
    engines_mhz: dict[str, int | None] = field(default_factory=dict)  # None = off

    def board_power(self) -> BoardPower | None:
        """Board power from this line's rails (see `board_power`)."""
        return board_power([(r.name, r.power_mw) for r in self.rails])


def parse_tegrastats_line(line: str) -> TegrastatsSample:
    """Parse one tegrastats line of any generation (TX1 L4T 28 to AGX Orin JetPack 7)."""
    text = _DATE_RE.sub("", line.strip().removeprefix("# "))
    s = TegrastatsSample()
    if m := _RAM_RE.search(text):
        s.ram_used_mb, s.ram_total_mb = int(m.group(1)), int(m.group(2))
    if m := _SWAP_RE.search(text):
        s.swap_used_mb = int(m.group(1))
    if m := _CPU_RE.search(text):
        shared = int(m.group(2)) if m.group(2) else None  # old format: one freq for all cores
        for entry in m.group(1).split(","):
            core = _CORE_RE.match(entry.strip())
            if core is None:
                s.cpus.append(None)  # "off"
            else:
                freq = int(core.group(2)) if core.group(2) else shared
                s.cpus.append((int(core.group(1)), freq))
    if s.ram_used_mb is None and not s.cpus:
        raise TelemetryError(f"not a tegrastats line: {line.strip()[:60]!r}")
    for m in _LOAD_RE.finditer(text):
        name, pct, freqs = m.group(1), m.group(2), m.group(3)
        pct_v = int(pct) if pct is not None else None
        mhz = [int(f) for f in freqs.split(",") if f] if freqs else []
        if name.startswith("EMC"):
            s.emc_pct, s.emc_mhz = pct_v, (mhz[0] if mhz else None)
        elif name == "GR3D2_FREQ":
            s.gpu2_pct, s.gpu2_mhz = pct_v, mhz
        else:
            s.gpu_pct, s.gpu_mhz = pct_v, mhz
    for m in _TEMP_RE.finditer(text):
        name, value = m.group(1).lower(), float(m.group(2))
        if name in PLACEHOLDER_SENSORS:
            continue
        if value <= OFFLINE_C:
            s.offline.append(name)
        else:
            s.temps_c[name] = value
    for m in _RAIL_RE.finditer(text):
        s.rails.append(Rail(m.group(1), float(m.group(2)), float(m.group(3))))
    for m in _ENGINE_RE.finditer(text):
        s.engines_mhz[m.group(1)] = None if m.group(2) == "off" else int(m.group(2))
    return s


def parse_tegrastats_log(text: str) -> list[TegrastatsSample]:
    """Every tegrastats line of a log; other lines (a `date` header, prompts) are skipped."""
    out = []
    for line in text.splitlines():
        try:
            out.append(parse_tegrastats_line(line))
        except TelemetryError:
            continue
    return out


def tegrastats_readings(s: TegrastatsSample) -> list[Reading]:
    """Readings of one line: rails + board power, temps, per-core CPU, GPU, EMC, RAM."""
    out = rail_readings([(r.name, r.power_mw) for r in s.rails])
    for name, temp_c in s.temps_c.items():
        out.append(Reading(f"jetson:temp:{name}", "temp_mc", float(round(temp_c * 1000))))
    for i, core in enumerate(s.cpus):
        if core is None:
            continue
        pct, mhz = core
        out.append(Reading(f"jetson:cpu{i}", "util_pct", float(pct)))
        if mhz:
            out.append(Reading(f"jetson:cpu{i}", "clock_khz", mhz * 1000.0))
    gpus: list[tuple[str, int | None, list[int]]] = [
        ("jetson:gpu", s.gpu_pct, s.gpu_mhz),
        ("jetson:gpu2", s.gpu2_pct, s.gpu2_mhz),
    ]
    for sensor, gpu_pct, mhzs in gpus:
        if gpu_pct is not None:
            out.append(Reading(sensor, "util_pct", float(gpu_pct)))
        live = [f for f in mhzs if f > 0]  # 0 MHz = the GPU is rail-gated
        if len(mhzs) == 1 and live:
            out.append(Reading(sensor, "clock_khz", live[0] * 1000.0))
        elif len(mhzs) > 1:
            for i, f in enumerate(mhzs):
                if f > 0:
                    out.append(Reading(f"{sensor}:gpc{i}", "clock_khz", f * 1000.0))
    if s.emc_pct is not None:
        out.append(Reading("jetson:emc", "util_pct", float(s.emc_pct)))
    if s.emc_mhz:
        out.append(Reading("jetson:emc", "clock_khz", s.emc_mhz * 1000.0))
    for engine, mhz in s.engines_mhz.items():
        if mhz and engine not in SKIPPED_ENGINES:
            name = engine.removesuffix("_FREQ").lower()
            out.append(Reading(f"jetson:{name}", "clock_khz", mhz * 1000.0))
    if s.ram_used_mb is not None:
        out.append(Reading("jetson:ram", "mem_used_kb", s.ram_used_mb * 1024.0))
    return out


# --- jetson_clocks --show ---------------------------------------------------------------------

_JC_CPU_RE = re.compile(
    r"^(cpu\d+): Online=(\d) .*MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", re.MULTILINE
)
_JC_UNIT_RE = re.compile(
    r"^(GPU|EMC) MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", re.MULTILINE
)


@dataclass(frozen=True)
class ClockRange:
    """min/max/current of one clock, in the unit jetson_clocks prints."""

    min: int
    max: int
    current: int


@dataclass
class JetsonClocks:
    """`jetson_clocks --show`: CPU clocks in kHz (cpufreq), GPU/EMC in Hz (devfreq)."""

    cpus_khz: dict[str, ClockRange] = field(default_factory=dict)
    online: dict[str, bool] = field(default_factory=dict)
    gpu_hz: ClockRange | None = None
    emc_hz: ClockRange | None = None
    power_mode: str | None = None


def parse_jetson_clocks_show(text: str) -> JetsonClocks:
    """Parse `sudo jetson_clocks --show`."""
    out = JetsonClocks()
    for m in _JC_CPU_RE.finditer(text):
        out.cpus_khz[m.group(1)] = ClockRange(int(m.group(3)), int(m.group(4)), int(m.group(5)))
        out.online[m.group(1)] = m.group(2) == "1"
    for m in _JC_UNIT_RE.finditer(text):
        rng = ClockRange(int(m.group(2)), int(m.group(3)), int(m.group(4)))
        if m.group(1) == "GPU":
            out.gpu_hz = rng
        else:
            out.emc_hz = rng
    if m2 := re.search(r"^NV Power Mode: (\S+)", text, re.MULTILINE):
        out.power_mode = m2.group(1)
    if not out.cpus_khz and out.gpu_hz is None:
        raise TelemetryError("jetson_clocks --show: no clock lines")
    return out


# --- INA3221 sysfs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InaChannel:
    """One connected INA3221 channel."""

    rail: str
    power: Path | None  # JP4: mW file
    voltage: Path | None  # mV
    current: Path | None  # mA

    def read(self) -> list[Reading]:
        """power_mw (and voltage_mv/current_ma where the files exist)."""
        sensor = f"jetson:{self.rail}"
        mv = read_int(self.voltage) if self.voltage else None
        ma = read_int(self.current) if self.current else None
        if self.power is not None:
            mw: float = float(read_int(self.power))
        elif mv is not None and ma is not None:
            mw = mv * ma / 1000
        else:
            raise TelemetryError(f"{sensor}: no power, or voltage and current, files")
        if mw < 0:
            raise TelemetryError(f"{sensor}: negative power {mw}")
        out = [Reading(sensor, "power_mw", mw)]
        if mv is not None:
            out.append(Reading(sensor, "voltage_mv", float(mv)))
        if ma is not None:
            out.append(Reading(sensor, "current_ma", float(ma)))
        return out


def _usable_rail(label: str) -> bool:
    return bool(label) and label != NOT_CONNECTED and "sum of shunt" not in label.lower()


def find_ina_channels(root: Path) -> list[InaChannel]:
    """Connected channels of every INA3221, JetPack 4 iio layout and JetPack 5/6 hwmon layout."""
    channels: list[InaChannel] = []
    drivers = under(root, "/sys/bus/i2c/drivers")
    for dev in sorted(drivers.glob("ina3221x/*/iio*device*")):
        for n in range(3):
            try:
                rail = read_text(dev / f"rail_name_{n}")
            except TelemetryError:
                continue
            if not _usable_rail(rail):
                continue
            def opt(p: Path) -> Path | None:
                return p if p.exists() else None
            channels.append(
                InaChannel(
                    rail,
                    opt(dev / f"in_power{n}_input"),
                    opt(dev / f"in_voltage{n}_input"),
                    opt(dev / f"in_current{n}_input"),
                )
            )
    for dev in sorted(drivers.glob("ina3221/*/hwmon/hwmon*")):
        for label_file in sorted(dev.glob("in*_label")):
            k = label_file.name.removeprefix("in").removesuffix("_label")
            try:
                rail = read_text(label_file)
            except TelemetryError:
                continue
            if k == "7" or not _usable_rail(rail):
                continue
            volt, curr = dev / f"in{k}_input", dev / f"curr{k}_input"
            if volt.exists() and curr.exists():
                channels.append(InaChannel(rail, None, volt, curr))
    return channels


def _gpu_devfreq(root: Path) -> Path | None:
    for d in sorted(under(root, "/sys/class/devfreq").glob("*")):
        if re.search(r"(gpu|gv11b|ga10b|gp10b|gm20b)$", d.name) and (d / "cur_freq").exists():
            return d / "cur_freq"
    return None


def _gpu_load(root: Path) -> Path | None:
    for p in ("/sys/devices/gpu.0/load", "/sys/devices/platform/gpu.0/load"):
        if under(root, p).exists():
            return under(root, p)
    return None


# --- the source -------------------------------------------------------------------------------


def _looks_like_jetson(root: Path) -> bool:
    if under(root, "/etc/nv_tegra_release").exists():
        return True
    try:
        return "jetson" in read_text(under(root, "/proc/device-tree/model")).lower()
    except TelemetryError:
        return False


class JetsonSource(TelemetrySource):
    """`jetson:<rail>` power_mw, `jetson:total`, and in tegrastats mode temps/CPU/GPU/EMC/RAM."""

    name = "jetson"
    energy_role = EnergyRole.WHOLE_DEVICE
    energy_rank = 2
    covers = "the Jetson module's INA3221 rails (input rail, or the sum of rails)"
    clocks = ClockFamily("Jetson CPU clocks", 2, lambda s: s.startswith("jetson:cpu"))

    def __init__(
        self,
        channels: list[InaChannel],
        stream: LineStream | None,
        gpu_clock: Path | None = None,
        gpu_load: Path | None = None,
    ) -> None:
        super().__init__()
        self._channels = channels
        self._stream = stream
        self._gpu_clock = gpu_clock
        self._gpu_load = gpu_load

    @staticmethod
    def _tegrastats(env: SensorEnv) -> tuple[LineStream, TegrastatsSample]:
        stream = env.stream(["tegrastats", "--interval", str(TEGRASTATS_INTERVAL_MS)])
        try:
            wait_s = max(env.command_timeout_s, 2 * TEGRASTATS_INTERVAL_MS / 1e3)
            line = stream.latest(wait_s=wait_s)
            if line is None:
                raise TelemetryError("tegrastats printed nothing")
            return stream, parse_tegrastats_line(line)
        except TelemetryError:
            stream.close()
            raise

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        channels = find_ina_channels(env.root)
        if channels:
            try:
                cls(channels, None).read()
            except TelemetryError:
                channels = []  # listed but unreadable (EIO, permissions): try tegrastats
        if channels:
            rails = [c.rail for c in channels]
            board = board_power([(r, 0.0) for r in rails])
            detail = f"INA3221 sysfs rails {', '.join(rails)}"
            if board:
                detail += "; " + board.describe()
            sensors = tuple(f"jetson:{r}" for r in rails) + (total_sensor(cls.name),)
            return SensorInfo(
                cls.name, SourceStatus.AVAILABLE, detail, sensors, None, env.simulated
            )
        try:
            stream, sample = cls._tegrastats(env)
        except TelemetryError as e:
            if _looks_like_jetson(env.root):
                return SensorInfo(
                    cls.name, SourceStatus.NEEDS_PERMISSION,
                    f"no readable INA3221 sysfs and tegrastats failed ({e}); run the agent as "
                    "root or with read access to /sys/bus/i2c/drivers/ina3221*",
                    (), None, env.simulated,
                )
            return not_available(cls.name, f"not a Jetson (no INA3221, tegrastats: {e})", env)
        stream.close()
        board = sample.board_power()
        detail = "tegrastats" + (f"; {board.describe()}" if board else "; no power rails printed")
        sensors = tuple(dict.fromkeys(r.sensor for r in tegrastats_readings(sample)))
        return SensorInfo(
            cls.name, SourceStatus.AVAILABLE, detail, sensors, TEGRASTATS_INTERVAL_MS / 1e3,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> JetsonSource:
        channels = find_ina_channels(env.root)
        if channels:
            return cls(channels, None, _gpu_devfreq(env.root), _gpu_load(env.root))
        stream, _ = cls._tegrastats(env)
        return cls([], stream)

    def read(self) -> list[Reading]:
        if self._stream is not None:
            line = self._stream.latest()
            return tegrastats_readings(parse_tegrastats_line(line)) if line else []
        rails: list[tuple[str, float]] = []
        out: list[Reading] = []
        for ch in self._channels:
            try:
                readings = ch.read()
            except TelemetryError as e:
                self._problem(f"jetson:{ch.rail}: {e}")  # EIO on a sleeping chip happens
                continue
            out += readings
            rails.append((ch.rail, readings[0].value))
        if len(rails) == len(self._channels):  # a total from some rails would lie
            board = board_power(rails)
            if board is not None:
                out.append(Reading(total_sensor(self.name), "power_mw", board.power_mw))
        if self._gpu_clock is not None:
            try:
                hz = read_int(self._gpu_clock)
                if hz > 0:
                    out.append(Reading("jetson:gpu", "clock_khz", hz / 1000))
            except TelemetryError as e:
                self._problem(f"jetson:gpu clock: {e}")
        if self._gpu_load is not None:
            try:
                out.append(Reading("jetson:gpu", "util_pct", read_int(self._gpu_load) / 10))
            except TelemetryError as e:
                self._problem(f"jetson:gpu load: {e}")
        if not out:
            raise TelemetryError("; ".join(self.problems()) or "no INA3221 channel readable")
        return out

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
