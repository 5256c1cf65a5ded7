"""CPU utilisation and memory from /proc: pure parsers, and the real /proc of this machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.procfs import (
    CpuTimes,
    ProcfsSource,
    parse_meminfo_used_kb,
    parse_proc_stat,
    utilisation_pct,
)
from rigbench.errors import TelemetryError

# /proc/stat and /proc/meminfo lines as this development VM printed them
STAT = """cpu  7028 0 2326 76062 241 0 36 12 0 0
cpu0 827 0 624 41349 17 0 7 3 0 0
cpu1 6200 0 1702 34712 223 0 29 8 0 0
intr 1 2 3
"""
MEMINFO = """MemTotal:       24684084 kB
MemFree:        24328152 kB
MemAvailable:   24331356 kB
Buffers:            2032 kB
Cached:           182924 kB
"""


def test_proc_stat_busy_excludes_idle_and_iowait():
    cpus = parse_proc_stat(STAT)
    assert set(cpus) == {"cpu", "cpu0", "cpu1"}
    assert cpus["cpu0"] == CpuTimes(busy=827 + 624 + 7 + 3, total=827 + 624 + 41349 + 17 + 7 + 3)


def test_utilisation_is_the_busy_share_between_two_snapshots():
    assert utilisation_pct(CpuTimes(100, 1000), CpuTimes(150, 1100)) == 50.0


def test_no_elapsed_time_gives_no_utilisation_rather_than_zero():
    assert utilisation_pct(CpuTimes(100, 1000), CpuTimes(100, 1000)) is None


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**6), st.integers(0, 10**6))
def test_utilisation_stays_within_0_and_100(busy: int, idle: int, d_busy: int, d_idle: int):
    pct = utilisation_pct(CpuTimes(busy, busy + idle), CpuTimes(busy + d_busy,
                                                                busy + idle + d_busy + d_idle))
    assert pct is None or 0.0 <= pct <= 100.0


def test_memory_used_is_total_minus_available():
    assert parse_meminfo_used_kb(MEMINFO) == 24684084 - 24331356


def test_old_kernels_without_memavailable_subtract_free_buffers_and_cache():
    old = "\n".join(ln for ln in MEMINFO.splitlines() if not ln.startswith("MemAvailable"))
    assert parse_meminfo_used_kb(old) == 24684084 - 24328152 - 2032 - 182924


def test_garbage_proc_stat_is_an_error():
    with pytest.raises(TelemetryError):
        parse_proc_stat("cpu  a b c d\n")


def test_a_procfs_root_built_from_text_reads_per_core_utilisation(tmp_path: Path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/stat").write_text(STAT)
    (tmp_path / "proc/meminfo").write_text(MEMINFO)
    source = ProcfsSource.open(SensorEnv(root=tmp_path))
    (tmp_path / "proc/stat").write_text(STAT.replace("cpu1 6200 0 1702 34712",
                                                     "cpu1 6300 0 1702 34812"))
    values = {(r.sensor, r.metric): r.value for r in source.read()}
    assert values[("procfs:cpu1", "util_pct")] == 50.0
    assert ("procfs:cpu0", "util_pct") not in values  # no jiffies passed there: unknown, not 0
    assert values[("procfs:mem", "mem_used_kb")] == 24684084 - 24331356


def test_this_machine_reports_utilisation_and_memory_in_use():
    env = SensorEnv()
    info = ProcfsSource.probe(env)
    assert info.status is SourceStatus.AVAILABLE
    source = ProcfsSource.open(env)
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:  # busy for several jiffies so the aggregate moves
        pass
    readings = source.read()
    assert {r.sensor for r in readings} <= set(info.sensors)  # idle cores may have no reading
    assert "procfs:cpu" in {r.sensor for r in readings}
    assert all(0.0 <= r.value <= 100.0 for r in readings if r.metric == "util_pct")
    mem = [r.value for r in readings if r.metric == "mem_used_kb"]
    assert len(mem) == 1 and mem[0] > 0
