"""Raspberry Pi firmware sensors through `vcgencmd`: SoC temperature, real ARM clock, throttle
flags, and on the Pi 5 the PMIC rail currents/voltages.

Why vcgencmd and not sysfs: `scaling_cur_freq` does not show firmware throttling (a Pi 3B+
capped at 1.2 GHz still reports 1.4 GHz), and the throttle flags exist only in the firmware.
Pitfalls (fixtures/telemetry/rpi, README section A):

* `measure_clock arm` prints `frequency(<id>)=<Hz>`; the id differs by board (45, 48, 0).
* `get_throttled` bits 0-3 are "now", bits 16-19 "has occurred since boot" (sticky). The
  sticky bits are reported as 0/1 `throttle_count` readings, so a 0 -> 1 step during a run
  shows an event even if it came and went between two polls. Never call it with an
  argument: that resets the sticky bits for everyone.
* `pmic_read_adc` pairs `<RAIL>_A current(i)` with `<RAIL>_V volt(j)` by rail name (i != j,
  lines unsorted, names change with firmware). The sum is PMIC-side power, not board power:
  the 5 V input current is not measured.
* Every call forks a process and needs the `video` group, so the source polls at most twice a
  second and only the commands that worked when it was opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
from rigbench.errors import TelemetryError

PMIC_CAVEAT = "PMIC rails only, not total board power (the 5 V input current is not measured)"
PERMISSION_FIX = (
    "vcgencmd cannot open /dev/vcio: add the agent's user to the video group "
    "(`sudo usermod -aG video $USER`, then log in again) or run the agent as root"
)

# get_throttled bits (raspberrypi/utils vcgencmd.1): bit -> (reason, sticky "has occurred")
THROTTLE_BITS: dict[int, tuple[str, bool]] = {
    0: ("under-voltage", False),
    1: ("arm-frequency-capped", False),
    2: ("throttled", False),
    3: ("soft-temp-limit", False),
    16: ("under-voltage", True),
    17: ("arm-frequency-capped", True),
    18: ("throttled", True),
    19: ("soft-temp-limit", True),
}

_TEMP_RE = re.compile(r"temp=([0-9.]+)")
_CLOCK_RE = re.compile(r"frequency\(\d+\)=(\d+)")
_THROTTLED_RE = re.compile(r"throttled=0x([0-9a-fA-F]+)")
_VOLT_RE = re.compile(r"volt=([0-9.]+)V")
_PMIC_RE = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[0-9.]+)[AV]\s*$"
)


def _search(regex: re.Pattern[str], text: str, what: str) -> str:
    m = regex.search(text)
    if m is None:
        raise TelemetryError(f"vcgencmd {what}: unexpected output {text.strip()[:60]!r}")
    return m.group(1)


def parse_measure_temp(text: str) -> int:
    """`temp=70.3'C` -> 70300 millidegrees (the `'C` suffix is not relied on)."""
    return round(float(_search(_TEMP_RE, text, "measure_temp")) * 1000)


def parse_measure_clock_hz(text: str) -> int:
    """`frequency(48)=1200000000` -> 1200000000 Hz, whatever the clock id."""
    return int(_search(_CLOCK_RE, text, "measure_clock"))


def parse_measure_volts_mv(text: str) -> float:
    """`volt=0.7200V` -> 720.0 mV."""
    return float(_search(_VOLT_RE, text, "measure_volts")) * 1000


def parse_get_throttled(text: str) -> int:
    """`throttled=0x80008` -> 0x80008."""
    return int(_search(_THROTTLED_RE, text, "get_throttled"), 16)


@dataclass(frozen=True)
class ThrottleFlag:
    """One decoded get_throttled bit."""

    bit: int
    reason: str
    occurred: bool  # True for the sticky "has occurred since boot" half
    active: bool


def decode_throttled(mask: int) -> list[ThrottleFlag]:
    """Every documented bit, set or not, plus any undocumented bit that is set."""
    flags = [
        ThrottleFlag(bit, reason, occurred, bool(mask >> bit & 1))
        for bit, (reason, occurred) in THROTTLE_BITS.items()
    ]
    for bit in range(mask.bit_length()):
        if mask >> bit & 1 and bit not in THROTTLE_BITS:
            flags.append(ThrottleFlag(bit, f"bit{bit}", bit >= 16, True))
    return flags


@dataclass(frozen=True)
class PmicReading:
    """Paired current and voltage of Pi 5 PMIC rails, by rail name."""

    current_a: dict[str, float]
    volt_v: dict[str, float]

    def rail_power_mw(self) -> dict[str, float]:
        """Power of every rail that has both a current and a voltage line."""
        return {
            rail: self.current_a[rail] * self.volt_v[rail] * 1000
            for rail in self.current_a
            if rail in self.volt_v
        }

    def total_mw(self) -> float:
        """Sum over paired rails: PMIC-side power, not board power."""
        return sum(self.rail_power_mw().values())


def parse_pmic_read_adc(text: str) -> PmicReading:
    """`pmic_read_adc` lines, newline- or NUL-separated (mailbox interface), any order."""
    current: dict[str, float] = {}
    volt: dict[str, float] = {}
    for line in re.split(r"[\n\0]", text):
        m = _PMIC_RE.match(line)
        if m is None:
            continue
        target = current if m.group("kind") == "A" else volt
        target[m.group("rail")] = float(m.group("value"))
    if not current and not volt:
        raise TelemetryError(f"pmic_read_adc: no rail lines in {text.strip()[:60]!r}")
    return PmicReading(current, volt)


def throttle_readings(mask: int) -> list[Reading]:
    """`rpi:<reason>` throttled (now) and `rpi:<reason>:occurred` throttle_count (sticky)."""
    out = []
    for flag in decode_throttled(mask):
        value = 1.0 if flag.active else 0.0
        if flag.occurred:
            out.append(Reading(f"rpi:{flag.reason}:occurred", "throttle_count", value))
        else:
            out.append(Reading(f"rpi:{flag.reason}", "throttled", value))
    return out


def pmic_readings(pmic: PmicReading) -> list[Reading]:
    """Per-rail power, unpaired rail voltages (EXT5V input), and the `rpi:total` PMIC sum."""
    if not pmic.rail_power_mw():
        raise TelemetryError("pmic_read_adc: no rail has both a current and a voltage line")
    out = [
        Reading(f"rpi:pmic:{rail}", "power_mw", mw) for rail, mw in pmic.rail_power_mw().items()
    ]
    for rail, v in pmic.volt_v.items():
        if rail not in pmic.current_a and v > 0:  # BATT_V reads 0 without an RTC battery
            out.append(Reading(f"rpi:pmic:{rail}", "voltage_mv", v * 1000))
    out.append(Reading(total_sensor("rpi"), "power_mw", pmic.total_mw()))
    return out


def _temp(text: str) -> list[Reading]:
    return [Reading("rpi:soc", "temp_mc", float(parse_measure_temp(text)))]


def _clock(text: str) -> list[Reading]:
    hz = parse_measure_clock_hz(text)
    return [Reading("rpi:arm", "clock_khz", hz / 1000)] if hz > 0 else []


def _volts(text: str) -> list[Reading]:
    return [Reading("rpi:core", "voltage_mv", parse_measure_volts_mv(text))]


def _throttled(text: str) -> list[Reading]:
    return throttle_readings(parse_get_throttled(text))


def _pmic(text: str) -> list[Reading]:
    return pmic_readings(parse_pmic_read_adc(text))


COMMANDS = {
    ("vcgencmd", "measure_temp"): _temp,
    ("vcgencmd", "measure_clock", "arm"): _clock,
    ("vcgencmd", "measure_volts", "core"): _volts,
    ("vcgencmd", "get_throttled"): _throttled,
    ("vcgencmd", "pmic_read_adc"): _pmic,
}


class RpiSource(TelemetrySource):
    """Raspberry Pi firmware sensors: `rpi:soc`, `rpi:arm`, `rpi:<throttle reason>`, PMIC."""

    name = "rpi"
    min_interval_s = 0.5
    energy_role = EnergyRole.WHOLE_DEVICE
    energy_rank = 1
    covers = "Raspberry Pi PMIC rails only, not total board power (5 V input not measured)"
    clocks = ClockFamily("rpi:arm", 4, lambda s: s == "rpi:arm")

    def __init__(self, env: SensorEnv, working: list[tuple[str, ...]]) -> None:
        super().__init__()
        self._env = env
        self._working = working

    @staticmethod
    def _try_all(env: SensorEnv) -> tuple[dict[tuple[str, ...], list[Reading]], list[str]]:
        ok: dict[tuple[str, ...], list[Reading]] = {}
        errors: list[str] = []
        for argv, parse in COMMANDS.items():
            try:
                ok[argv] = parse(env.run(argv, env.command_timeout_s))
            except TelemetryError as e:
                errors.append(str(e))
        return ok, errors

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        ok, errors = cls._try_all(env)
        if not ok:
            text = " ".join(errors)
            if "vcio" in text or "VCHI" in text or "ermission" in text:
                return SensorInfo(
                    cls.name, SourceStatus.NEEDS_PERMISSION, PERMISSION_FIX, (), None,
                    env.simulated,
                )
            return not_available(cls.name, errors[0] if errors else "vcgencmd not found", env)
        sensors = tuple(dict.fromkeys(r.sensor for rs in ok.values() for r in rs))
        detail = "vcgencmd: " + ", ".join(" ".join(a[1:]) for a in ok)
        if ("vcgencmd", "pmic_read_adc") in ok:
            detail += f"; rpi:total = {PMIC_CAVEAT}"
        return SensorInfo(cls.name, SourceStatus.AVAILABLE, detail, sensors, None, env.simulated)

    @classmethod
    def open(cls, env: SensorEnv) -> RpiSource:
        ok, errors = cls._try_all(env)
        if not ok:
            raise TelemetryError("; ".join(errors) or "vcgencmd not usable")
        return cls(env, list(ok))

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        for argv in self._working:
            try:
                out.extend(COMMANDS[argv](self._env.run(argv, self._env.command_timeout_s)))
            except TelemetryError as e:
                self._problem(str(e))
        if not out and self._problems:
            raise TelemetryError("; ".join(self.problems()))
        return out
