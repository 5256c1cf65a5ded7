"""Telemetry backends: what each device can measure, and reading it on the sampler thread.

Adding a sensor is one new module with a `TelemetrySource` subclass plus one line in
`SOURCES`; the class says how it counts toward energy and which settings it takes, so nothing
else lists it. The order matters only for display; the summary picks its energy source itself.
"""

from __future__ import annotations

from rigbench.agent.telemetry.base import (
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
)
from rigbench.agent.telemetry.cpufreq import CpufreqSource
from rigbench.agent.telemetry.external import ExternalMeterSource
from rigbench.agent.telemetry.hwmon import HwmonSource
from rigbench.agent.telemetry.jetson import JetsonSource
from rigbench.agent.telemetry.nvml import NvmlSource
from rigbench.agent.telemetry.procfs import ProcfsSource
from rigbench.agent.telemetry.rapl import RaplSource
from rigbench.agent.telemetry.rpi import RpiSource
from rigbench.agent.telemetry.thermal import ThermalSource
from rigbench.agent.telemetry.x86_throttle import X86ThrottleSource
from rigbench.errors import TelemetryError

SOURCES: list[type[TelemetrySource]] = [
    ProcfsSource,
    ThermalSource,
    HwmonSource,
    CpufreqSource,
    X86ThrottleSource,
    RaplSource,
    RpiSource,
    JetsonSource,
    NvmlSource,
    ExternalMeterSource,
]


def _safe_probe(source: type[TelemetrySource], env: SensorEnv) -> SensorInfo:
    """`probe` must never raise; a backend bug still becomes a readable status."""
    try:
        return source.probe(env)
    except Exception as e:  # noqa: BLE001 - Describe must list every backend, whatever happens
        return SensorInfo(
            source.name,
            SourceStatus.NOT_AVAILABLE,
            f"probe failed: {type(e).__name__}: {e}",
            (),
            None,
            env.simulated,
        )


def discover(env: SensorEnv) -> list[SensorInfo]:
    """One SensorInfo per registered backend, in `SOURCES` order."""
    return [_safe_probe(source, env) for source in SOURCES]


def open_available(
    env: SensorEnv, infos: list[SensorInfo] | None = None
) -> list[TelemetrySource]:
    """Open every backend whose probe says AVAILABLE; one that fails to open is left out.

    ``infos`` (from an earlier `discover`) saves probing again: on a Pi each probe forks.
    """
    known = {i.source: i for i in infos} if infos is not None else {}
    opened: list[TelemetrySource] = []
    for source in SOURCES:
        info = known.get(source.name) or _safe_probe(source, env)
        if info.status is not SourceStatus.AVAILABLE:
            continue
        try:
            opened.append(source.open(env))
        except (TelemetryError, OSError):
            continue
    return opened


__all__ = [
    "SOURCES",
    "Reading",
    "SensorEnv",
    "SensorInfo",
    "SourceStatus",
    "TelemetrySource",
    "discover",
    "open_available",
]
