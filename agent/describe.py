"""What this device is: the facts a procurement or regression question needs later.

Read from /proc, /sys and /etc under a configurable root so the same code describes a
recorded device in tests. Anything unknown is reported as empty, never guessed.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigbench import PROTOCOL_VERSION, __version__
from rigbench.agent.emulation import Emulation, detect_emulation
from rigbench.agent.runtimes import absent_runtimes, describe_runtimes
from rigbench.agent.runtimes.base import RuntimeDescription


@dataclass
class SensorSummary:
    source: str
    status: str
    detail: str
    sensors: list[str]
    update_period_s: float | None
    simulated: bool


@dataclass
class DeviceDescription:
    agent_version: str
    protocol_version: str
    hostname: str
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int
    memory_bytes: int
    os: str
    kernel: str
    arch: str
    python_version: str
    runtimes: list[RuntimeDescription]
    sensors: list[SensorSummary] = field(default_factory=list)
    simulated: bool = False
    fingerprint: dict[str, str] = field(default_factory=dict)
    busy_job_id: str = ""
    emulation: Emulation | None = None  # set when qemu-user (or the like) runs this agent
    absent_runtimes: list[str] = field(default_factory=list)  # registered, not installed
    sensor_settings: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        return self.emulation is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (as dataclasses.asdict, without its deep copies)."""
        d = dict(self.__dict__)
        d["emulation"] = dict(self.emulation.__dict__) if self.emulation else None
        d["runtimes"] = [dict(r.__dict__, providers=list(r.providers)) for r in self.runtimes]
        d["sensors"] = [dict(s.__dict__) for s in self.sensors]
        d["fingerprint"] = dict(self.fingerprint)
        d["sensor_settings"] = {k: dict(v) for k, v in self.sensor_settings.items()}
        return d


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(root: Path) -> str:
    info = _read(root / "proc/cpuinfo")
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in info.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == key and v.strip():
                return v.strip()
    return platform.processor() or ""


def physical_cores(root: Path) -> int:
    """Distinct (physical id, core id) pairs; falls back to the logical count."""
    pairs = set()
    phys = core = None
    for line in _read(root / "proc/cpuinfo").splitlines():
        k, _, v = line.partition(":")
        k = k.strip()
        if k == "physical id":
            phys = v.strip()
        elif k == "core id":
            core = v.strip()
        elif not line.strip():
            if core is not None:
                pairs.add((phys, core))
            phys = core = None
    if core is not None:
        pairs.add((phys, core))
    return len(pairs) or (os.cpu_count() or 0)


def memory_bytes(root: Path) -> int:
    for line in _read(root / "proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def os_name(root: Path) -> str:
    for line in _read(root / "etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def fingerprint(root: Path, runtimes: list[RuntimeDescription]) -> dict[str, str]:
    """What, if it changes between two nights, explains a change in the numbers."""
    fp = {"kernel": platform.release(), "agent": __version__, "python": platform.python_version()}
    cpu0 = root / "sys/devices/system/cpu/cpu0/cpufreq"
    for name in ("scaling_governor", "scaling_max_freq", "cpuinfo_max_freq"):
        v = _read(cpu0 / name).strip()
        if v:
            fp[name] = v
    for rt in runtimes:
        fp[f"runtime.{rt.name}"] = rt.version
    l4t = _read(root / "etc/nv_tegra_release").strip().splitlines()
    if l4t:
        fp["l4t"] = l4t[0][:120]
    return fp


def describe_device(
    root: Path = Path("/"),
    sensors: list[SensorSummary] | None = None,
    simulated: bool = False,
    sensor_settings: dict[str, dict[str, str]] | None = None,
) -> DeviceDescription:
    runtimes = describe_runtimes()
    return DeviceDescription(
        agent_version=__version__,
        protocol_version=PROTOCOL_VERSION,
        hostname=socket.gethostname(),
        cpu_model=cpu_model(root),
        cpu_cores_logical=os.cpu_count() or 0,
        cpu_cores_physical=physical_cores(root),
        memory_bytes=memory_bytes(root),
        os=os_name(root),
        kernel=platform.release(),
        arch=platform.machine(),
        python_version=platform.python_version(),
        runtimes=runtimes,
        sensors=sensors or [],
        simulated=simulated,
        fingerprint=fingerprint(root, runtimes),
        emulation=detect_emulation(),
        absent_runtimes=absent_runtimes(runtimes),
        sensor_settings=dict(sensor_settings or {}),
    )
