"""What else the host did around a job: counters read from a /proc the test writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rigbench.agent.convert import result_from_pb, result_to_pb
from rigbench.agent.hostload import CpuCounters, host_load, read_counters
from rigbench.agent.jobs import HostLoad, JobResult


def proc(tmp_path: Path, cpu_line: str, loadavg: str = "1.50 1.20 0.90 2/300 4242") -> Path:
    (tmp_path / "stat").write_text(cpu_line + "\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 0\n")
    (tmp_path / "loadavg").write_text(loadavg + "\n")
    return tmp_path


def counters(busy: float, steal: float, total: float, own: float, load: float) -> CpuCounters:
    return CpuCounters(busy, steal, total, own, load)


def test_the_aggregate_cpu_line_is_read_in_seconds(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice
    root = proc(tmp_path, f"cpu  {10 * tick} 0 {5 * tick} {80 * tick} {2 * tick} 0 {tick} "
                          f"{2 * tick} 0 0")  # fmt: skip
    c = read_counters(root)
    assert c is not None
    assert (c.busy_s, c.steal_s, c.total_s) == pytest.approx((16.0, 2.0, 100.0))
    assert c.load_avg_1m == 1.5 and c.own_s > 0


def test_old_kernels_without_steal_read_as_no_steal(tmp_path: Path) -> None:
    c = read_counters(proc(tmp_path, "cpu  100 0 50 800 20 0 10"))
    assert c is not None and c.steal_s == 0.0


@pytest.mark.parametrize("text", ["", "intr 1 2 3", "cpu  a b c d e f g h"])
def test_an_unreadable_stat_is_not_measured(tmp_path: Path, text: str) -> None:
    (tmp_path / "stat").write_text(text)
    assert read_counters(tmp_path) is None
    assert host_load(None, None, 2) == HostLoad(cpus=2)


def test_a_missing_proc_is_not_measured(tmp_path: Path) -> None:
    assert read_counters(tmp_path / "nowhere") is None


def test_one_other_busy_core_of_two_is_half_the_machine() -> None:
    # 10 s on 2 CPUs = 20 CPU-seconds; the worker used 10, something else 10.
    start = counters(100.0, 0.0, 1000.0, 5.0, 1.0)
    end = counters(120.0, 0.0, 1020.0, 15.0, 2.0)
    h = host_load(start, end, 2)
    assert h.measured and h.other_cpu_share == pytest.approx(0.5)
    assert (h.load_avg_1m_start, h.load_avg_1m_end, h.steal_share) == (1.0, 2.0, 0.0)


def test_steal_is_a_share_of_capacity_and_shares_stay_within_0_and_1() -> None:
    h = host_load(counters(0, 0, 0, 0, 0), counters(4.0, 5.0, 20.0, 6.0, 0), 2)
    assert h.steal_share == pytest.approx(0.25) and h.other_cpu_share == 0.0


def test_a_window_shorter_than_a_tick_has_no_shares() -> None:
    c = counters(1.0, 0.0, 10.0, 0.5, 0.7)
    h = host_load(c, c, 2)
    assert h.measured and h.other_cpu_share is None and h.load_avg_1m_end == 0.7


def test_this_machine_reports_its_load_around_real_work() -> None:
    start = read_counters()
    sum(i * i for i in range(2_000_000))
    h = host_load(start, read_counters())
    if start is None:
        pytest.skip("no /proc/stat here")
    assert h.measured and h.load_avg_1m_start is not None
    assert h.other_cpu_share is None or 0.0 <= h.other_cpu_share <= 1.0


def test_host_load_survives_the_wire_with_unknown_figures_unknown() -> None:
    base = JobResult(1, 0, 1, 0, [5, 6], 0, 1, 1, 1, "onnxruntime", "1", [], [], [], "min")
    for load in (HostLoad(True, 0.5, 1.5, 0.25, 0.0, 4), HostLoad(True, 0.5, None, None, None, 2),
                 HostLoad(cpus=8)):  # fmt: skip
        base.host_load = load
        assert result_from_pb(result_to_pb(base)).host_load == load
