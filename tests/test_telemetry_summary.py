"""The per-result telemetry summary: energy, power, heat, clocks and throttling from a timeline."""

from __future__ import annotations

import inspect
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry import SOURCES
from rigbench.agent.telemetry.base import (
    EnergyRole,
    Reading,
    SensorEnv,
    SensorInfo,
    TelemetrySource,
)
from rigbench.agent.telemetry.sampler import Gap, Sample
from rigbench.agent.telemetry.summary import TelemetrySummary, summarize

MS = 1_000_000
S = 1_000_000_000


def series(
    sensor: str, metric: str, start_ns: int, step_ns: int, values: list[float]
) -> list[Sample]:
    return [Sample(start_ns + i * step_ns, sensor, metric, v) for i, v in enumerate(values)]


def counter(sensor: str, watts: float, start_ns: int, step_ns: int, n: int) -> list[Sample]:
    """A cumulative energy_uj counter growing at `watts`."""
    return [Sample(start_ns + i * step_ns, sensor, "energy_uj", watts * 1e6 * i * step_ns / S)
            for i in range(n)]


# --- energy and power --------------------------------------------------------------------------


def test_energy_from_a_counter_is_average_power_times_window():
    samples = counter("rapl:total", 10.0, 0, 100 * MS, 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=300,
                    update_periods={"rapl": 0.001})
    assert out.energy_source == "counter:rapl:total"
    assert out.avg_power_mw == pytest.approx(10_000)
    assert out.energy_mj == pytest.approx(30_000)
    assert out.energy_per_inference_mj == pytest.approx(100)
    assert out.energy_coverage == 1.0


def test_a_counter_is_preferred_over_polled_power_of_the_same_sensor():
    samples = counter("nvml:total", 50.0, 0, 100 * MS, 31)
    samples += series("nvml:total", "power_mw", 0, 100 * MS, [80_000.0] * 31)  # a 1-s average
    out = summarize(samples, [], window=(0, 3 * S), iterations=1)
    assert out.energy_source == "counter:nvml:total"
    assert out.avg_power_mw == pytest.approx(50_000)


def test_energy_from_polled_power_is_integrated_when_there_is_no_counter():
    samples = series("jetson:total", "power_mw", 0, 500 * MS, [5000.0] * 9)
    out = summarize(samples, [], window=(0, 4 * S), iterations=40,
                    update_periods={"jetson": 0.5})
    assert out.energy_source == "integrated:jetson:total"
    assert out.energy_mj == pytest.approx(20_000)
    assert out.energy_per_inference_mj == pytest.approx(500)


def test_window_bounds_between_samples_are_interpolated():
    samples = series("jetson:total", "power_mw", 0, 1 * S, [1000.0] + [3000.0] * 4 + [1000.0])
    out = summarize(samples, [], window=(S // 2, 9 * S // 2), iterations=1)
    # 2000 -> 3000 over 0.5 s, 3000 for 3 s, 3000 -> 2000 over 0.5 s
    assert out.energy_mj == pytest.approx(2500 * 0.5 + 3000 * 3 + 2500 * 0.5)


def test_a_window_shorter_than_three_sensor_updates_reports_no_energy():
    samples = series("jetson:total", "power_mw", 0, 500 * MS, [5000.0] * 5)
    out = summarize(samples, [], window=(0, 1 * S), iterations=10,
                    update_periods={"jetson": 0.5})
    assert out.energy_mj is None and out.avg_power_mw is None
    assert any("fewer than 3 sensor updates" in n for n in out.notes)


def test_a_hole_in_the_power_samples_lowers_coverage_and_is_not_integrated_across():
    times = [i * 100 * MS for i in range(41) if not 10 <= i < 30]  # 2 s of the 4 s missing
    samples = [Sample(t, "rpi:total", "power_mw", 4000.0) for t in times]
    out = summarize(samples, [], window=(0, 4 * S), iterations=1)
    assert out.energy_coverage == pytest.approx(0.45, abs=0.03)
    assert out.avg_power_mw == pytest.approx(4000)
    assert out.energy_mj is None  # below half the window: not extrapolated
    assert any("cover only" in n for n in out.notes)


def test_idle_power_gives_dynamic_energy_per_inference():
    samples = series("external:total", "power_mw", 0, 100 * MS, [2000.0] * 21)
    samples += series("external:total", "power_mw", 3 * S, 100 * MS, [5000.0] * 31)
    out = summarize(samples, [], window=(3 * S, 6 * S), idle_window=(0, 2 * S), iterations=300)
    assert out.idle_power_mw == pytest.approx(2000)
    assert out.energy_mj == pytest.approx(15_000)
    assert out.dynamic_energy_mj == pytest.approx(9_000)
    assert out.dynamic_energy_per_inference_mj == pytest.approx(30)


def test_an_external_meter_covers_the_whole_device_and_wins_over_on_board_sensors():
    samples = series("external:total", "power_mw", 0, 100 * MS, [30_000.0] * 31)
    samples += counter("rapl:total", 10.0, 0, 100 * MS, 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=1)
    assert out.energy_source == "integrated:external:total"
    assert out.avg_power_mw == pytest.approx(30_000)


def test_cpu_and_gpu_totals_are_disjoint_and_added():
    samples = counter("rapl:total", 10.0, 0, 100 * MS, 31)
    samples += counter("nvml:total", 60.0, 0, 100 * MS, 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=1,
                    update_periods={"rapl": 0.001})
    assert out.energy_source == "counter:rapl:total+counter:nvml:total"
    assert out.avg_power_mw == pytest.approx(70_000)
    assert any("CPU packages and DRAM only" in n for n in out.notes)


def test_pi_pmic_energy_says_it_is_not_board_power():
    samples = series("rpi:total", "power_mw", 0, 500 * MS, [7239.8] * 9)
    out = summarize(samples, [], window=(0, 4 * S), iterations=1)
    assert any("not total board power" in n for n in out.notes)


def test_a_device_without_power_sensors_reports_none_not_zero():
    samples = series("thermal:acpitz", "temp_mc", 0, 100 * MS, [25000.0] * 11)
    out = summarize(samples, [], window=(0, 1 * S), idle_window=(0, S // 2), iterations=10)
    assert (out.avg_power_mw, out.energy_mj, out.idle_power_mw, out.energy_per_inference_mj,
            out.energy_source, out.energy_coverage) == (None,) * 6
    assert any("power not available" in n for n in out.notes)


@given(watts=st.floats(0.1, 500), step_ms=st.integers(10, 500), seconds=st.integers(3, 60))
def test_constant_power_integrates_to_power_times_duration(watts: float, step_ms: int,
                                                           seconds: int):
    n = seconds * 1000 // step_ms + 1
    samples = series("external:total", "power_mw", 0, step_ms * MS, [watts * 1000] * n)
    out = summarize(samples, [], window=(0, seconds * S), iterations=1)
    assert out.energy_mj == pytest.approx(watts * 1000 * seconds, rel=1e-6)


# --- heat, clocks, throttling ------------------------------------------------------------------


def test_peak_temperature_counts_only_the_window():
    samples = series("thermal:cpu-thermal", "temp_mc", 0, 1 * S, [40000.0, 52000.0, 90000.0])
    out = summarize(samples, [], window=(0, int(1.5 * S)), iterations=1)
    assert out.peak_temp_mc == 52000


def test_clock_range_follows_the_fastest_core_and_prefers_the_real_pi_clock():
    samples = series("rpi:arm", "clock_khz", 0, 1 * S, [1_400_000.0, 1_200_000.0, 1_200_000.0])
    samples += series("cpufreq:cpu0", "clock_khz", 0, 1 * S, [1_400_000.0] * 3)  # no firmware cap
    out = summarize(samples, [], window=(0, 2 * S), iterations=1)
    assert (out.min_clock_khz, out.max_clock_khz) == (1_200_000, 1_400_000)
    assert "clocks from rpi:arm" in out.notes


def test_per_tick_maximum_over_cores_ignores_idle_cores():
    samples = [Sample(t * S, f"cpufreq:cpu{c}", "clock_khz", v)
               for t in range(3) for c, v in enumerate([2_201_600.0, 729_600.0])]
    out = summarize(samples, [], window=(0, 2 * S), iterations=1)
    assert (out.min_clock_khz, out.max_clock_khz) == (2_201_600, 2_201_600)


def test_a_throttle_flag_in_the_window_names_the_reason_and_when_it_started():
    flags = series("rpi:soft-temp-limit", "throttled", 0, 1 * S, [0.0, 0.0, 1.0, 1.0])
    out = summarize(flags, [], window=(S // 2, 4 * S), iterations=1)
    assert out.throttled is True
    assert out.throttle_reasons == ["rpi:soft-temp-limit"]
    assert out.first_throttle_ns == 2 * S - S // 2


def test_a_sticky_occurred_flag_going_up_counts_even_if_no_poll_saw_the_condition():
    occurred = series("rpi:throttled:occurred", "throttle_count", 0, 1 * S, [0.0, 0.0, 1.0])
    now = series("rpi:throttled", "throttled", 0, 1 * S, [0.0, 0.0, 0.0])
    out = summarize(occurred + now, [], window=(0, 3 * S), iterations=1)
    assert out.throttle_reasons == ["rpi:throttled:occurred"]


def test_a_sticky_flag_already_set_before_the_run_is_not_blamed_on_it():
    occurred = series("rpi:under-voltage:occurred", "throttle_count", 0, 1 * S, [1.0] * 4)
    out = summarize(occurred, [], window=(S, 4 * S), iterations=1)
    assert out.throttled is False and out.throttle_reasons == [] and out.first_throttle_ns is None


def test_throttle_counters_growing_in_the_window_are_throttling():
    counts = series("x86_throttle:package_power_limit", "throttle_count", 0, 1 * S,
                    [0.0, 0.0, 2.0, 2.0])
    out = summarize(counts, [], window=(0, 4 * S), iterations=1)
    assert out.throttle_reasons == ["x86_throttle:package_power_limit"]
    assert out.first_throttle_ns == 2 * S


def test_failed_reads_in_the_window_are_counted_in_the_notes():
    gaps = [Gap(S, "rpi", "vcgencmd did not answer within 2 s"), Gap(2 * S, "rpi", "x"),
            Gap(9 * S, "thermal", "outside")]
    out = summarize([], gaps, window=(0, 3 * S), iterations=1)
    assert "2 failed sensor reads in the window (rpi x2)" in out.notes


def test_the_window_must_end_after_it_starts():
    with pytest.raises(ValueError):
        summarize([], [], window=(5, 5), iterations=1)


# --- serialisation -----------------------------------------------------------------------------


def test_summary_round_trips_through_json():
    samples = counter("rapl:total", 10.0, 0, 100 * MS, 31)
    samples += series("rpi:throttled", "throttled", 0, 1 * S, [0.0, 1.0])
    out = summarize(samples, [], window=(0, 3 * S), iterations=7)
    again = TelemetrySummary.from_dict(json.loads(json.dumps(out.to_dict())))
    assert again == out


def test_from_dict_ignores_fields_of_a_newer_agent():
    data = TelemetrySummary(avg_power_mw=5.0).to_dict() | {"future_field": 1}
    assert TelemetrySummary.from_dict(data).avg_power_mw == 5.0


# --- a source says how it counts: a new meter needs no table elsewhere -----------------------


class WallPlug(TelemetrySource):
    """A power meter nobody else knows about: it describes itself, and that is enough."""

    name = "wallplug"
    energy_role = EnergyRole.WHOLE_DEVICE
    energy_rank = 99
    covers = "the wall socket of the whole rack"

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        raise NotImplementedError

    @classmethod
    def open(cls, env: SensorEnv) -> TelemetrySource:
        raise NotImplementedError

    def read(self) -> list[Reading]:
        raise NotImplementedError


class NpuRail(WallPlug):
    name = "npu"
    energy_role = EnergyRole.PART
    covers = "the NPU rail only"


def test_a_new_whole_device_meter_is_the_energy_figure_by_its_own_description():
    samples = series("wallplug:total", "power_mw", 0, 100 * MS, [40_000.0] * 31)
    samples += series("external:total", "power_mw", 0, 100 * MS, [30_000.0] * 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=1, sources=[*SOURCES, WallPlug])
    assert out.energy_source == "integrated:wallplug:total"
    assert out.avg_power_mw == pytest.approx(40_000)
    assert "wallplug:total covers the wall socket of the whole rack" in out.notes


def test_a_new_part_source_is_added_to_the_other_parts():
    samples = counter("rapl:total", 10.0, 0, 100 * MS, 31)
    samples += series("npu:total", "power_mw", 0, 100 * MS, [5_000.0] * 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=1,
                    update_periods={"rapl": 0.001}, sources=[*SOURCES, NpuRail])
    assert out.energy_source == "counter:rapl:total+integrated:npu:total"
    assert out.avg_power_mw == pytest.approx(15_000)


def test_a_source_that_does_not_count_toward_energy_is_left_out():
    samples = series("thermal:total", "power_mw", 0, 100 * MS, [9_000.0] * 31)
    out = summarize(samples, [], window=(0, 3 * S), iterations=1)
    assert out.avg_power_mw is None and out.energy_source is None


def test_every_registered_source_that_reports_a_total_says_how_it_counts():
    """A source module that emits `<name>:total` declares its energy role and coverage; a new
    power meter that forgot would otherwise be silently left out of the energy figure.
    """
    def module_text(s: type[TelemetrySource]) -> str:
        return inspect.getsource(sys.modules[s.__module__])

    emitting = [s for s in SOURCES if "total_sensor(" in module_text(s)]
    assert {s.name for s in emitting} >= {"rapl", "nvml", "jetson", "rpi", "external"}
    for source in emitting:
        assert source.energy_role is not None and source.covers, source.name
