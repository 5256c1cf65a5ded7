"""How busy the host was around a job's measured loop: load average, others' CPU, steal.

A latency measured while something else used the CPUs, or while a hypervisor gave them to
another guest, is a latency of that moment. The worker reads the kernel's counters just before
and just after its measured loop, and the result carries what they say:

* **load average** (``/proc/loadavg``, 1 minute) at both ends;
* **other processes' CPU share**: the CPU time all processes used in the window
  (``/proc/stat``: user, nice, system, irq, softirq, over every CPU), minus the worker's own
  (``os.times``, all its threads), as a share of the machine's capacity in that window. One
  other process keeping one core of two busy is 0.5;
* **steal share**: time the hypervisor ran something else while this guest wanted a CPU,
  as a share of capacity (0 on bare metal).

Where ``/proc`` cannot be read (not Linux, a locked-down container), nothing is claimed:
``HostLoad.measured`` is False and the figures are not available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rigbench.agent.jobs import HostLoad

PROC = Path("/proc")


@dataclass(frozen=True)
class CpuCounters:
    """One reading of the machine's CPU counters and the worker's own CPU time."""

    busy_s: float  # user + nice + system + irq + softirq, every CPU
    steal_s: float
    total_s: float  # every state, every CPU
    own_s: float  # this process, every thread
    load_avg_1m: float | None


def _load_avg(root: Path) -> float | None:
    try:
        return float((root / "loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_counters(root: Path = PROC) -> CpuCounters | None:
    """The aggregate ``cpu`` line of ``/proc/stat`` in seconds, with this process's CPU time."""
    try:
        with open(root / "stat") as f:
            first = f.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    if not first or first[0] != "cpu" or len(first) < 8:
        return None
    try:
        v = [int(x) / ticks for x in first[1:]]
    except ValueError:
        return None
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0.0
    t = os.times()
    return CpuCounters(
        busy_s=user + nice + system + irq + softirq,
        steal_s=steal,
        total_s=user + nice + system + idle + iowait + irq + softirq + steal,
        own_s=t.user + t.system,
        load_avg_1m=_load_avg(root),
    )


def host_load(
    start: CpuCounters | None, end: CpuCounters | None, cpus: int | None = None
) -> HostLoad:
    """The host's load between two readings; not measured when either is missing."""
    cpus = cpus or os.cpu_count() or 0
    if start is None or end is None:
        return HostLoad(cpus=cpus)
    total = end.total_s - start.total_s
    if total <= 0:
        return HostLoad(
            True, start.load_avg_1m, end.load_avg_1m, None, None, cpus
        )  # too short a window for the kernel's tick
    others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return HostLoad(
        measured=True,
        load_avg_1m_start=start.load_avg_1m,
        load_avg_1m_end=end.load_avg_1m,
        other_cpu_share=min(1.0, max(0.0, others / total)),
        steal_share=min(1.0, max(0.0, (end.steal_s - start.steal_s) / total)),
        cpus=cpus,
    )
