"""NVIDIA GPU power, energy, temperature, clocks and clock-event (throttle) reasons.

pynvml (nvidia-ml-py) is used when importable and the driver answers; it is imported inside
the functions below only, so the agent does not need it. Otherwise `nvidia-smi` is run and
its CSV output parsed, with `nvidia-smi -q -x` as the fallback when a query field is unknown
to the driver. (The `-q` text format, which the agent never asks for, is read only by the
tests: tests/captures.py.)

Pitfalls (fixtures/telemetry/nvml, README section D, nvml_constants.md):

* NVML power is integer mW (1-s average on Ampere+ except GA100); the energy counter is mJ
  since driver load (Volta+); temperatures are C; clocks MHz. nvidia-smi prints watts.
* Clock-event reasons are a 64-bit mask; several bits at once; GpuIdle is not throttling;
  bits the table does not know are kept as `bit_0x...`, never dropped or fatal.
* CSV: units in the header brackets (but not for `temperature.gpu`), `", "` separators,
  `[N/A]`/`[Not Supported]` for missing values, strings such as `510.47.03` are not numbers.
* The XML schema changed in driver 535 (`power_readings` -> `gpu_power_readings`,
  `clocks_throttle_reasons` -> `clocks_event_reasons`); both are read.
* On Jetson, NVML reports power as not supported: the source is NOT_AVAILABLE and the jetson
  backend measures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from rigbench.agent.telemetry.counters import EnergyCounter
from rigbench.errors import TelemetryError

# Clock event / throttle reason bits (nvml.h API 13; 0x200/0x400 only in pynvml 13.615).
REASON_BITS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
    0x200: "board_limit",
    0x400: "reliability",
}
NOT_THROTTLING = frozenset({"gpu_idle"})  # an idle GPU lowers its clocks; that is not a limit

_XML_REASON_ALIASES = {"display_clocks_setting": "display_clock_setting", "idle": "gpu_idle"}

QUERY_FIELDS = (
    "index",
    "power.draw",
    "temperature.gpu",
    "clocks.current.sm",
    "clocks.current.memory",
    "utilization.gpu",
    "memory.used",
    "clocks_throttle_reasons.active",
)
MISSING = frozenset({"[N/A]", "[Not Supported]", "N/A", "Not Supported", "[Unknown Error]", ""})


def decode_reasons(mask: int) -> list[str]:
    """Names of the set bits, lowest first; an unknown bit becomes `bit_0x...`."""
    names = []
    for bit in range(mask.bit_length()):
        value = 1 << bit
        if mask & value:
            names.append(REASON_BITS.get(value, f"bit_{value:#x}"))
    return names


@dataclass
class GpuSnapshot:
    """One GPU at one moment, in the units the tools print. None = not reported."""

    index: int = 0
    name: str | None = None
    power_mw: float | None = None
    energy_mj: int | None = None
    temp_c: float | None = None
    sm_mhz: float | None = None
    mem_mhz: float | None = None
    graphics_mhz: float | None = None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    active_reasons: list[str] | None = None  # None: reasons not reported

    def has_measurements(self) -> bool:
        """Whether anything beyond the name was reported (False on Jetson's limited NVML)."""
        return any(
            v is not None
            for v in (self.power_mw, self.energy_mj, self.temp_c, self.sm_mhz, self.util_pct)
        )


def snapshot_readings(s: GpuSnapshot, energy_since_open_mj: int | None = None) -> list[Reading]:
    """`nvml:gpuN` power/temp/util/memory, `nvml:gpuN:sm|mem` clocks, reasons as throttled."""
    gpu = f"nvml:gpu{s.index}"
    out: list[Reading] = []
    if s.power_mw is not None:
        out.append(Reading(gpu, "power_mw", s.power_mw))
    if energy_since_open_mj is not None:
        out.append(Reading(gpu, "energy_uj", energy_since_open_mj * 1000.0))
    if s.temp_c is not None:
        out.append(Reading(gpu, "temp_mc", s.temp_c * 1000))
    if s.sm_mhz:
        out.append(Reading(f"{gpu}:sm", "clock_khz", s.sm_mhz * 1000))
    if s.mem_mhz:
        out.append(Reading(f"{gpu}:mem", "clock_khz", s.mem_mhz * 1000))
    if s.util_pct is not None:
        out.append(Reading(gpu, "util_pct", s.util_pct))
    if s.mem_used_mib is not None:
        out.append(Reading(gpu, "mem_used_kb", s.mem_used_mib * 1024))
    if s.active_reasons is not None:
        active = set(s.active_reasons)
        known = [n for n in REASON_BITS.values() if n not in NOT_THROTTLING]
        extra = sorted(active - set(REASON_BITS.values()))
        for reason in known + extra:
            out.append(Reading(f"{gpu}:{reason}", "throttled", 1.0 if reason in active else 0.0))
    return out


# --- nvidia-smi --query-gpu CSV ---------------------------------------------------------------


def _value(raw: str) -> str | None:
    raw = raw.strip()
    return None if raw in MISSING else raw


def number(raw: str | None) -> float | None:
    """`83.92 W` -> 83.92, `26 %` -> 26.0; None for missing or non-numeric (`510.47.03`)."""
    if raw is None:
        return None
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*(?:W|MHz|%|MiB|C|mW)?", raw.strip())
    return float(m.group(1)) if m else None


def parse_query_csv(text: str) -> list[dict[str, str | None]]:
    """Rows of `--format=csv` output keyed by field name (units in brackets removed)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise TelemetryError("nvidia-smi: empty CSV output")
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in lines[0].split(",")]
    rows = []
    for line in lines[1:]:
        values = [_value(v) for v in line.split(", ")]
        values += [None] * (len(header) - len(values))  # a truncated row
        rows.append(dict(zip(header, values, strict=False)))
    return rows


def parse_smi_timestamp(raw: str) -> datetime:
    """`2022/03/22 20:23:46.283` (the CSV `timestamp` field)."""
    return datetime.strptime(raw.strip(), "%Y/%m/%d %H:%M:%S.%f")


def parse_reason_mask(raw: str | None) -> int | None:
    """`0x00000000000001FF` -> 0x1FF."""
    if raw is None or not raw.strip().lower().startswith("0x"):
        return None
    return int(raw.strip(), 16)


def snapshot_from_csv_row(row: dict[str, str | None]) -> GpuSnapshot:
    """A GpuSnapshot from one `--query-gpu` row (watts -> mW)."""
    power_w = number(row.get("power.draw"))
    mask = parse_reason_mask(
        row.get("clocks_throttle_reasons.active") or row.get("clocks_event_reasons.active")
    )
    index = number(row.get("index"))
    return GpuSnapshot(
        index=int(index) if index is not None else 0,
        name=row.get("name"),
        power_mw=power_w * 1000 if power_w is not None else None,
        temp_c=number(row.get("temperature.gpu")),
        sm_mhz=number(row.get("clocks.current.sm")),
        mem_mhz=number(row.get("clocks.current.memory")),
        graphics_mhz=number(row.get("clocks.current.graphics")),
        util_pct=number(row.get("utilization.gpu")),
        mem_used_mib=number(row.get("memory.used")),
        active_reasons=decode_reasons(mask) if mask is not None else None,
    )


# --- nvidia-smi -q -x (XML) -------------------------------------------------------------------

_TAG_RE = re.compile(r"<(/?)([A-Za-z_][\w.-]*)[^>]*?(/?)>")


def parse_q_xml(text: str) -> list[dict[str, str]]:
    """Leaves of `nvidia-smi -q -x` as one dict per `<gpu>` of `parent/leaf` -> text.

    A tolerant tag scanner rather than an XML parser, so that excerpts (which start and end
    inside elements) are read the same way as whole documents.
    """
    header: dict[str, str] = {}
    gpus: list[dict[str, str]] = []
    current = header
    stack: list[str] = []
    leaf_start: int | None = None
    for m in _TAG_RE.finditer(text):
        closing, tag, selfclosing = m.group(1), m.group(2), m.group(3)
        if selfclosing:
            continue
        if not closing:
            if tag == "gpu":
                gpus.append({})
                current = gpus[-1]
            stack.append(tag)
            leaf_start = m.end()
            continue
        if tag not in stack:
            leaf_start = None  # closes an element opened before the excerpt began
            continue
        if stack[-1] == tag and leaf_start is not None:
            current["/".join(stack[-2:])] = text[leaf_start : m.start()].strip()
        while stack and stack.pop() != tag:
            pass
        leaf_start = None
    return gpus if gpus else ([header] if header else [])


def _xml_leaf(entries: dict[str, str], parents: tuple[str, ...], leaf: str) -> str | None:
    for path, value in entries.items():
        parent, _, name = path.rpartition("/")
        if name == leaf and parent in parents:
            return _value(value)
    return None


def snapshot_from_q_xml(entries: dict[str, str], index: int = 0) -> GpuSnapshot:
    """A GpuSnapshot from one GPU of `nvidia-smi -q -x`, pre- and post-535 schema."""
    power_w = number(_xml_leaf(entries, ("power_readings", "gpu_power_readings"), "power_draw"))
    reasons: list[str] | None = None
    for path, value in entries.items():
        leaf = path.rpartition("/")[2]
        m = re.fullmatch(r"clocks?_(?:event|throttle)_reason_(\w+)", leaf)
        if m is None:
            continue
        reasons = reasons if reasons is not None else []
        if value.strip() == "Active":
            reasons.append(_XML_REASON_ALIASES.get(m.group(1), m.group(1)))
    used = _xml_leaf(entries, ("fb_memory_usage",), "used")
    return GpuSnapshot(
        index=index,
        power_mw=power_w * 1000 if power_w is not None else None,
        temp_c=number(_xml_leaf(entries, ("temperature",), "gpu_temp")),
        sm_mhz=number(_xml_leaf(entries, ("clocks",), "sm_clock")),
        mem_mhz=number(_xml_leaf(entries, ("clocks",), "mem_clock")),
        graphics_mhz=number(_xml_leaf(entries, ("clocks",), "graphics_clock")),
        mem_used_mib=number(used),
        active_reasons=reasons,
    )


# --- reading paths ----------------------------------------------------------------------------


def smi_snapshots(env: SensorEnv) -> list[GpuSnapshot]:
    """Query nvidia-smi: CSV first, `-q -x` when the driver rejects a CSV field."""
    argv = ["nvidia-smi", f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv"]
    try:
        rows = parse_query_csv(env.run(argv, env.command_timeout_s))
        return [snapshot_from_csv_row(r) for r in rows]
    except TelemetryError as csv_error:
        if "not installed" in str(csv_error):
            raise
        try:
            xml = env.run(["nvidia-smi", "-q", "-x"], env.command_timeout_s)
        except TelemetryError:
            raise csv_error from None
        return [snapshot_from_q_xml(g, i) for i, g in enumerate(parse_q_xml(xml))]


def _nvml_call(nvml: Any, fn: str, *args: Any) -> Any:
    """One NVML call; None when the function is missing or the GPU does not support it."""
    f = getattr(nvml, fn, None)
    if f is None:
        return None
    try:
        return f(*args)
    except nvml.NVMLError:
        return None


def pynvml_snapshot(nvml: Any, handle: Any, index: int) -> GpuSnapshot:
    """Read one GPU through pynvml (each metric independently optional)."""
    util = _nvml_call(nvml, "nvmlDeviceGetUtilizationRates", handle)
    mem = _nvml_call(nvml, "nvmlDeviceGetMemoryInfo", handle)
    reasons = _nvml_call(nvml, "nvmlDeviceGetCurrentClocksEventReasons", handle)
    if reasons is None:
        reasons = _nvml_call(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", handle)
    power = _nvml_call(nvml, "nvmlDeviceGetPowerUsage", handle)
    temp = _nvml_call(nvml, "nvmlDeviceGetTemperature", handle, 0)  # NVML_TEMPERATURE_GPU
    sm = _nvml_call(nvml, "nvmlDeviceGetClockInfo", handle, 1)  # NVML_CLOCK_SM
    memclk = _nvml_call(nvml, "nvmlDeviceGetClockInfo", handle, 2)  # NVML_CLOCK_MEM
    energy = _nvml_call(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle)
    return GpuSnapshot(
        index=index,
        power_mw=float(power) if power is not None else None,
        energy_mj=int(energy) if energy is not None else None,
        temp_c=float(temp) if temp is not None else None,
        sm_mhz=float(sm) if sm else None,
        mem_mhz=float(memclk) if memclk else None,
        util_pct=float(util.gpu) if util is not None else None,
        mem_used_mib=mem.used / (1024 * 1024) if mem is not None else None,
        active_reasons=decode_reasons(int(reasons)) if reasons is not None else None,
    )


class _Pynvml:
    """An initialised pynvml and its device handles."""

    def __init__(self) -> None:
        try:
            import pynvml  # noqa: PLC0415 - optional vendor SDK, imported only here
        except ImportError as e:
            raise TelemetryError("pynvml (nvidia-ml-py) is not installed") from e
        self.nvml: Any = pynvml
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except pynvml.NVMLError as e:
            raise TelemetryError(f"NVML: {e}") from e

    def snapshots(self) -> list[GpuSnapshot]:
        return [pynvml_snapshot(self.nvml, h, i) for i, h in enumerate(self.handles)]

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass


class NvmlSource(TelemetrySource):
    """NVIDIA GPUs via pynvml or nvidia-smi; `nvml:total` sums the GPUs."""

    name = "nvml"
    energy_role = EnergyRole.PART
    covers = "NVIDIA GPU boards only"
    clocks = ClockFamily(
        "nvml SM clocks", 3, lambda s: s.startswith("nvml:") and s.endswith(":sm")
    )

    def __init__(self, env: SensorEnv, lib: _Pynvml | None) -> None:
        super().__init__()
        self._env = env
        self._lib = lib
        self.min_interval_s = 0.0 if lib else 1.0  # nvidia-smi forks and takes ~0.1 s
        self._counters: dict[int, EnergyCounter] = {}

    @staticmethod
    def _connect(env: SensorEnv) -> tuple[_Pynvml | None, list[GpuSnapshot], list[str]]:
        errors: list[str] = []
        if not env.simulated:  # recorded devices replay nvidia-smi; never read a real GPU
            try:
                lib = _Pynvml()
                return lib, lib.snapshots(), errors
            except TelemetryError as e:
                errors.append(str(e))
        return None, smi_snapshots(env), errors

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        try:
            lib, snaps, _ = cls._connect(env)
        except TelemetryError as e:
            return not_available(cls.name, f"no NVIDIA GPU ({e})", env)
        if lib is not None:
            lib.close()
        usable = [s for s in snaps if s.has_measurements()]
        if not usable:
            return not_available(
                cls.name,
                "NVML reports power/temperature/clocks as not supported (Jetson: the jetson "
                "backend reads INA3221/tegrastats instead)",
                env,
            )
        sensors = tuple(
            dict.fromkeys(r.sensor for s in usable for r in snapshot_readings(s, s.energy_mj))
        ) + (total_sensor(cls.name),)
        via = "pynvml" if lib else "nvidia-smi"
        counter = any(s.energy_mj is not None for s in usable)
        detail = f"{len(usable)} GPU(s) via {via}; " + (
            "energy counter available" if counter else
            "no energy counter (pre-Volta or nvidia-smi): power is integrated; on Ampere+ it "
            "is a 1-s average"
        )
        return SensorInfo(cls.name, SourceStatus.AVAILABLE, detail, sensors, None, env.simulated)

    @classmethod
    def open(cls, env: SensorEnv) -> NvmlSource:
        lib, snaps, _ = cls._connect(env)
        if not any(s.has_measurements() for s in snaps):
            if lib is not None:
                lib.close()
            raise TelemetryError("NVML reports no supported GPU measurement")
        source = cls(env, lib)
        for s in snaps:
            if s.energy_mj is not None:
                source._counters[s.index] = EnergyCounter(s.energy_mj, None)
        return source

    def read(self) -> list[Reading]:
        snaps = self._lib.snapshots() if self._lib else smi_snapshots(self._env)
        out: list[Reading] = []
        power_total = 0.0
        energy_total = 0
        have_power = have_energy = True
        for s in snaps:
            energy = None
            counter = self._counters.get(s.index)
            if counter is not None and s.energy_mj is not None:
                try:
                    energy = counter.update(s.energy_mj)
                except TelemetryError as e:  # driver reloaded: counting restarts
                    self._problem(f"nvml:gpu{s.index}: {e}")
            out += snapshot_readings(s, energy)
            have_power = have_power and s.power_mw is not None
            have_energy = have_energy and energy is not None
            power_total += s.power_mw or 0.0
            energy_total += energy or 0
        if snaps and have_power:
            out.append(Reading(total_sensor(self.name), "power_mw", power_total))
        if snaps and have_energy:
            out.append(Reading(total_sensor(self.name), "energy_uj", energy_total * 1000.0))
        return out

    def close(self) -> None:
        if self._lib is not None:
            self._lib.close()
            self._lib = None
