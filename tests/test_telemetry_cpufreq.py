"""cpufreq clocks and the lowered-ceiling throttle hint, on the AGX Orin jetson_clocks capture."""

from __future__ import annotations

from pathlib import Path

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.cpufreq import CpufreqSource
from rigbench.agent.telemetry.jetson import parse_jetson_clocks_show
from tests.paths import TELEMETRY_FIXTURES

CLOCKS = "jetson/jetson_clocks_show_agx_orin_64gb_jp5_catid_unresolved.txt"


def orin_tree(root: Path) -> Path:
    """Cpufreq files with the kHz values `jetson_clocks --show` printed for each core."""
    clocks = parse_jetson_clocks_show((TELEMETRY_FIXTURES / CLOCKS).read_text(encoding="utf-8"))
    for cpu, rng in clocks.cpus_khz.items():
        d = root / "sys/devices/system/cpu" / cpu / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_cur_freq").write_text(f"{rng.current}\n")
        (d / "scaling_max_freq").write_text(f"{rng.max}\n")
    return root


def test_each_core_reports_its_requested_clock_in_khz(tmp_path: Path):
    source = CpufreqSource.open(SensorEnv(root=orin_tree(tmp_path)))
    clocks = {r.sensor: r.value for r in source.read() if r.metric == "clock_khz"}
    assert len(clocks) == 12
    assert clocks["cpufreq:cpu0"] == 2201600
    assert clocks["cpufreq:cpu10"] == 1113600
    assert list(clocks)[:3] == ["cpufreq:cpu0", "cpufreq:cpu1", "cpufreq:cpu2"]  # numeric order


def test_a_ceiling_lowered_during_the_run_is_a_throttle_hint(tmp_path: Path):
    root = orin_tree(tmp_path)
    source = CpufreqSource.open(SensorEnv(root=root))
    flags = {r.sensor: r.value for r in source.read() if r.metric == "throttled"}
    assert set(flags.values()) == {0.0}
    (root / "sys/devices/system/cpu/cpu3/cpufreq/scaling_max_freq").write_text("1190400\n")
    flags = {r.sensor: r.value for r in source.read() if r.metric == "throttled"}
    assert flags["cpufreq:cpu3:max-lowered"] == 1.0
    assert flags["cpufreq:cpu4:max-lowered"] == 0.0


def test_a_ceiling_already_low_at_open_is_a_setting_not_throttling(tmp_path: Path):
    root = orin_tree(tmp_path)
    (root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq").write_text("729600\n")
    source = CpufreqSource.open(SensorEnv(root=root))
    flags = {r.sensor: r.value for r in source.read() if r.metric == "throttled"}
    assert flags["cpufreq:cpu0:max-lowered"] == 0.0


def test_a_core_going_offline_is_a_problem_and_the_others_still_read(tmp_path: Path):
    root = orin_tree(tmp_path)
    source = CpufreqSource.open(SensorEnv(root=root))
    (root / "sys/devices/system/cpu/cpu11/cpufreq/scaling_cur_freq").unlink()
    clocks = [r for r in source.read() if r.metric == "clock_khz"]
    assert len(clocks) == 11
    assert len(source.problems()) == 1


def test_no_cpufreq_is_not_available(tmp_path: Path):
    assert CpufreqSource.probe(SensorEnv(root=tmp_path)).status is SourceStatus.NOT_AVAILABLE
