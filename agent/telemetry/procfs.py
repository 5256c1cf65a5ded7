"""CPU utilisation per core and memory in use, from /proc/stat and /proc/meminfo.

Works on every Linux device, containers included, so a benchmark always has at least a load
timeline. Utilisation is a rate: it needs two snapshots, so `open` takes the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rigbench.agent.telemetry.base import (
    Reading,
    SensorEnv,
    SensorInfo,
    SourceStatus,
    TelemetrySource,
    not_available,
)
from rigbench.agent.telemetry.sysfs import read_text, under
from rigbench.errors import TelemetryError


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies of one `cpu` line: busy and total (guest time is already inside user/nice)."""

    busy: int
    total: int


def parse_proc_stat(text: str) -> dict[str, CpuTimes]:
    """`cpu` (all cores) and `cpuN` lines of /proc/stat."""
    out: dict[str, CpuTimes] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu"):
            continue
        try:
            fields = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
        except ValueError as e:
            raise TelemetryError(f"/proc/stat: bad line {line[:60]!r}") from e
        if len(fields) < 4:
            raise TelemetryError(f"/proc/stat: short line {line[:60]!r}")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields)
        out[parts[0]] = CpuTimes(busy=total - idle, total=total)
    if not out:
        raise TelemetryError("/proc/stat: no cpu lines")
    return out


def utilisation_pct(before: CpuTimes, after: CpuTimes) -> float | None:
    """Busy share between two snapshots; None when no time passed (or the counter reset)."""
    d_total = after.total - before.total
    d_busy = after.busy - before.busy
    if d_total <= 0 or d_busy < 0:
        return None
    return min(100.0, 100.0 * d_busy / d_total)


def parse_meminfo_used_kb(text: str) -> int:
    """Memory in use: MemTotal - MemAvailable (or - MemFree - Buffers - Cached on old kernels)."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kb[key.strip()] = int(parts[0])
    if "MemTotal" not in kb:
        raise TelemetryError("/proc/meminfo: no MemTotal")
    if "MemAvailable" in kb:
        return kb["MemTotal"] - kb["MemAvailable"]
    free = kb.get("MemFree", 0) + kb.get("Buffers", 0) + kb.get("Cached", 0)
    return kb["MemTotal"] - free


class ProcfsSource(TelemetrySource):
    """`procfs:cpu` and `procfs:cpuN` util_pct, `procfs:mem` mem_used_kb."""

    name = "procfs"

    def __init__(self, env: SensorEnv) -> None:
        super().__init__()
        self._stat = under(env.root, "/proc/stat")
        self._meminfo = under(env.root, "/proc/meminfo")
        self._last = parse_proc_stat(read_text(self._stat))

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        try:
            cpus = parse_proc_stat(read_text(under(env.root, "/proc/stat")))
            parse_meminfo_used_kb(read_text(under(env.root, "/proc/meminfo")))
        except TelemetryError as e:
            return not_available(cls.name, str(e), env)
        sensors = tuple(f"procfs:{c}" for c in cpus) + ("procfs:mem",)
        return SensorInfo(
            cls.name,
            SourceStatus.AVAILABLE,
            f"{len(cpus) - 1} cores from /proc/stat, memory from /proc/meminfo",
            sensors,
            None,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> ProcfsSource:
        return cls(env)

    def read(self) -> list[Reading]:
        now = parse_proc_stat(read_text(self._stat))
        out: list[Reading] = []
        for cpu, times in now.items():
            before = self._last.get(cpu)
            pct = utilisation_pct(before, times) if before else None
            if pct is not None:
                out.append(Reading(f"procfs:{cpu}", "util_pct", pct))
        self._last = now
        try:
            used_kb = parse_meminfo_used_kb(read_text(self._meminfo))
            out.append(Reading("procfs:mem", "mem_used_kb", float(used_kb)))
        except TelemetryError as e:
            self._problem(str(e))
        return out
