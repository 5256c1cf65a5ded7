"""Readers of captured formats that only the tests need: the agent never asks for them.

The captures under tests/fixtures/telemetry hold facts the agent's own parsers are checked
against: what `nvidia-smi -q` (text) reports beside the CSV the agent reads, the fields the
driver offers (`--help-query-gpu`), an exporter's raw values, and what turbostat says about
the RAPL counters' units and wrap-around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rigbench.agent.telemetry.nvml import MISSING, GpuSnapshot, number

# nvidia-smi -q text labels and XML tag suffixes -> the names above
_TEXT_REASONS = {
    "idle": "gpu_idle",
    "applications clocks setting": "applications_clocks_setting",
    "sw power cap": "sw_power_cap",
    "hw slowdown": "hw_slowdown",
    "hw thermal slowdown": "hw_thermal_slowdown",
    "hw power brake slowdown": "hw_power_brake_slowdown",
    "sync boost": "sync_boost",
    "sw thermal slowdown": "sw_thermal_slowdown",
    "display clock setting": "display_clock_setting",
}


def parse_exporter_raw_values(text: str) -> dict[str, str]:
    """`query_field_name=<f> raw_value=<v>` pairs from nvidia_gpu_exporter debug logs."""
    out = {}
    for m in re.finditer(r'query_field_name=(\S+) raw_value=(?:"([^"]*)"|(\S+))', text):
        out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def parse_help_query_gpu(text: str) -> dict[str, str]:
    """`nvidia-smi --help-query-gpu`: every property name and alias -> its description."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith('"'):
            continue
        names = re.findall(r'"([^"]+)"', line.split(" or NVSMI_")[0])
        desc = lines[i + 1].strip() if i + 1 < len(lines) else ""
        for n in names:
            out[n] = desc
    return out


def parse_q_text(text: str) -> list[dict[str, str]]:
    """`nvidia-smi -q` as one dict per GPU of `Section/Sub/Key` -> value.

    Only value-less lines open a section, so `HW Thermal Slowdown`, indented under the `HW
    Slowdown` entry, is `Clocks Throttle Reasons/HW Thermal Slowdown`. Excerpts that start
    inside a section give keys without that section.
    """
    header: dict[str, str] = {}
    gpus: list[dict[str, str]] = []
    current = header
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("$"):
            continue
        indent = len(line) - len(line.lstrip())
        key, sep, value = line.strip().partition(":")
        key = key.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if indent == 0 and key.startswith("GPU ") and not value.strip():
            gpus.append({})
            current = gpus[-1]
            stack = []
            continue
        if not sep or not value.strip():
            stack.append((indent, key))
            continue
        path = "/".join([name for _, name in stack] + [key])
        current[path] = value.strip()
    return gpus if gpus else ([header] if header else [])


def _by_parent(entries: dict[str, str], parents: tuple[str, ...], key: str) -> str | None:
    for path, value in entries.items():
        parts = path.split("/")
        if parts[-1] == key and len(parts) >= 2 and parts[-2] in parents:
            return None if value.strip() in MISSING else value.strip()
    return None


def snapshot_from_q_text(entries: dict[str, str], index: int = 0) -> GpuSnapshot:
    """A GpuSnapshot from one GPU of `nvidia-smi -q` text."""
    power_w = number(_by_parent(entries, ("Power Readings", "GPU Power Readings"), "Power Draw"))
    reasons: list[str] | None = None
    for path, value in entries.items():
        parts = path.split("/")
        if len(parts) >= 2 and parts[0] in ("Clocks Throttle Reasons", "Clocks Event Reasons"):
            reasons = reasons if reasons is not None else []
            name = _TEXT_REASONS.get(parts[-1].lower(), parts[-1].lower().replace(" ", "_"))
            if value.strip() == "Active":
                reasons.append(name)
    return GpuSnapshot(
        index=index,
        power_mw=power_w * 1000 if power_w is not None else None,
        temp_c=number(_by_parent(entries, ("Temperature",), "GPU Current Temp")),
        sm_mhz=number(_by_parent(entries, ("Clocks",), "SM")),
        mem_mhz=number(_by_parent(entries, ("Clocks",), "Memory")),
        graphics_mhz=number(_by_parent(entries, ("Clocks",), "Graphics")),
        active_reasons=reasons,
    )


@dataclass(frozen=True)
class RaplUnits:
    """Units of MSR_RAPL_POWER_UNIT (Intel SDM / AMD PPR layout, same on both)."""

    power_w: float
    energy_j: float
    time_s: float

    def counter_range_j(self, bits: int = 32) -> float:
        """Energy the raw MSR counter holds before it wraps."""
        return (1 << bits) * self.energy_j


def rapl_units_from_msr(msr: int) -> RaplUnits:
    """Decode MSR_RAPL_POWER_UNIT: power bits 3:0, energy 12:8, time 19:16 (as 1/2**n)."""
    return RaplUnits(
        power_w=1.0 / (1 << (msr & 0xF)),
        energy_j=1.0 / (1 << ((msr >> 8) & 0x1F)),
        time_s=1.0 / (1 << ((msr >> 16) & 0xF)),
    )


@dataclass(frozen=True)
class TurbostatRapl:
    """What `turbostat` says about RAPL: the raw unit MSR and its own wrap estimate."""

    unit_msr: int | None
    counter_range_s: float | None
    at_watts: float | None


def parse_turbostat_rapl(text: str) -> TurbostatRapl:
    """The unit MSR and the `RAPL: 234 sec. Joule Counter Range, at 280 Watts` line."""
    msr = re.search(r"MSR_RAPL_PWR_UNIT: (0x[0-9a-fA-F]+)", text)
    rng = re.search(r"RAPL: ([\d.]+) sec\. Joule Counter Range, at ([\d.]+) Watts", text)
    return TurbostatRapl(
        int(msr.group(1), 16) if msr else None,
        float(rng.group(1)) if rng else None,
        float(rng.group(2)) if rng else None,
    )
