"""Recorded devices built from the captures: discovery and readings end to end, as an agent sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigbench.agent.telemetry import discover, open_available
from rigbench.agent.telemetry.base import METRICS, SensorEnv, SourceStatus
from rigbench.agent.telemetry.rapl import RaplSource
from rigbench.agent.telemetry.recorded import (
    KINDS,
    RecordedCommandRunner,
    build_recorded_root,
    recorded_env,
)
from rigbench.agent.telemetry.sampler import Sampler
from rigbench.agent.telemetry.summary import summarize
from rigbench.errors import TelemetryError
from tests.builders.clock import ManualClock
from tests.paths import TELEMETRY_FIXTURES

EXPECTED_SOURCES = {
    "rpi5": {"rpi"},
    "rpi3": {"rpi"},
    "jetson-orin": {"thermal", "cpufreq", "jetson"},
    "jetson-nano": {"jetson"},
    "x86-rapl": {"thermal", "hwmon", "x86_throttle", "rapl"},
    "x86-amd": {"hwmon"},
    "x86-nvidia": {"nvml"},
}


def build(kind: str, tmp_path: Path) -> SensorEnv:
    return recorded_env(build_recorded_root(kind, TELEMETRY_FIXTURES, tmp_path / kind))


def read_all(env: SensorEnv) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], float] = {}
    for source in open_available(env):
        values.update({(r.sensor, r.metric): r.value for r in source.read()})
        source.close()
    return values


def test_every_kind_has_an_expectation():
    assert set(KINDS) == set(EXPECTED_SOURCES)


@pytest.mark.parametrize("kind", sorted(EXPECTED_SOURCES))
def test_discover_on_a_recorded_device_finds_its_sources_marked_simulated(kind: str,
                                                                          tmp_path: Path):
    infos = discover(build(kind, tmp_path))
    available = {i.source for i in infos if i.status is SourceStatus.AVAILABLE}
    assert available == EXPECTED_SOURCES[kind]
    assert all(i.simulated for i in infos)


@pytest.mark.parametrize("kind", sorted(EXPECTED_SOURCES))
def test_recorded_devices_only_produce_known_metrics(kind: str, tmp_path: Path):
    assert {metric for _, metric in read_all(build(kind, tmp_path))} <= METRICS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_manifest_names_the_fixtures_each_device_was_built_from(kind: str, tmp_path: Path):
    root = build_recorded_root(kind, TELEMETRY_FIXTURES, tmp_path / kind)
    manifest = json.loads((root / ".recorded.json").read_text())
    assert manifest["kind"] == kind and manifest["fixtures"]
    assert all((TELEMETRY_FIXTURES / f).is_file() for f in manifest["fixtures"])


def test_recorded_pi_5_reads_the_captured_temperature_clock_and_pmic_power(tmp_path: Path):
    values = read_all(build("rpi5", tmp_path))
    assert values[("rpi:soc", "temp_mc")] == 70300
    assert values[("rpi:arm", "clock_khz")] == pytest.approx(2400004.352)
    assert values[("rpi:pmic:VDD_CORE", "power_mw")] == pytest.approx(6.22421 * 0.861733 * 1000)
    assert values[("rpi:throttled", "throttled")] == 0.0


def test_recorded_pi_3_goes_from_idle_to_its_soft_temperature_limit(tmp_path: Path):
    env = build("rpi3", tmp_path)
    assert env.run(["vcgencmd", "get_throttled"], 1.0).strip() == "throttled=0x0"
    assert env.run(["vcgencmd", "get_throttled"], 1.0).strip() == "throttled=0x80008"
    assert env.run(["vcgencmd", "get_throttled"], 1.0).strip() == "throttled=0x80008"


def test_recorded_agx_orin_reads_zones_clocks_and_summed_rails(tmp_path: Path):
    env = build("jetson-orin", tmp_path)
    jetson = next(i for i in discover(env) if i.source == "jetson")
    assert "sum of VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0" in jetson.detail
    values = read_all(env)
    assert values[("thermal:tj-thermal", "temp_mc")] == 52000
    assert values[("cpufreq:cpu10", "clock_khz")] == 1113600
    assert values[("jetson:total", "power_mw")] == 3178 + 794 + 4543
    assert values[("jetson:temp:soc1", "temp_mc")] == 49031


def test_recorded_nano_reads_ina3221_rails_and_uses_the_input_rail(tmp_path: Path):
    values = read_all(build("jetson-nano", tmp_path))
    assert values[("jetson:POM_5V_IN", "power_mw")] == 1022
    assert values[("jetson:total", "power_mw")] == 1022


def test_recorded_laptop_reads_acpitz_and_counts_rapl_energy_from_the_captured_counter(
    tmp_path: Path,
):
    env = build("x86-rapl", tmp_path)
    values = read_all(env)
    assert values[("thermal:acpitz", "temp_mc")] == 25000
    assert values[("hwmon:acpitz:temp3", "temp_mc")] == 29800
    assert values[("x86_throttle:core_throttle", "throttle_count")] == 0
    rapl = RaplSource.open(env)
    energy = env.root / "sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj"
    energy.write_text(f"{26963529117 + 2_000_000}\n")
    assert {r.sensor: r.value for r in rapl.read()}["rapl:total"] == 2_000_000


def test_recorded_amd_desktop_has_k10temp_but_no_rapl(tmp_path: Path):
    env = build("x86-amd", tmp_path)
    assert read_all(env) == {("hwmon:k10temp:Tdie", "temp_mc"): 26500}
    rapl = next(i for i in discover(env) if i.source == "rapl")
    assert rapl.status is SourceStatus.NOT_AVAILABLE


def test_recorded_geforce_replays_the_captured_csv_rows_in_order(tmp_path: Path):
    env = build("x86-nvidia", tmp_path)
    powers = []
    for source in open_available(env):  # probe and open answered rows 1 and 2
        powers += [r.value for r in source.read() + source.read() if r.sensor == "nvml:total"]
    assert powers == pytest.approx([84770, 78630])  # rows 3 and 4 of the capture


# --- the runner --------------------------------------------------------------------------------


def test_an_unrecorded_program_is_not_installed_and_an_unrecorded_argument_fails(
    tmp_path: Path,
):
    runner = RecordedCommandRunner(build_recorded_root("rpi3", TELEMETRY_FIXTURES, tmp_path))
    with pytest.raises(TelemetryError, match="not installed"):
        runner(["nvidia-smi"], 1.0)
    with pytest.raises(TelemetryError, match="status 1"):
        runner(["vcgencmd", "pmic_read_adc"], 1.0)  # a Pi 3 has no PMIC ADC


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="known: rpi5"):
        build_recorded_root("cray-1", TELEMETRY_FIXTURES, Path("/nonexistent"))


# --- end to end: sampler and summary on recorded devices ---------------------------------------


def test_a_run_on_the_recorded_pi_3_is_summarised_as_throttled_at_1_2_ghz(tmp_path: Path):
    env = build("rpi3", tmp_path)
    sources = open_available(env)
    clock = ManualClock(until_s=1.2)
    sampler = Sampler(sources, rate_hz=10, clock=clock)
    t0 = clock.now_ns()
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    t1 = clock.now_ns()
    summary = summarize(out.samples, out.gaps, window=(t0, t1), iterations=100)
    assert summary.throttled is True
    assert "rpi:soft-temp-limit" in summary.throttle_reasons
    assert summary.min_clock_khz == 1_200_000
    assert summary.peak_temp_mc == 65500
    assert summary.energy_mj is None  # a Pi 3 has no power sensor
    assert out.gaps == []


def test_a_run_on_the_recorded_agx_orin_integrates_board_power(tmp_path: Path):
    env = build("jetson-orin", tmp_path)
    sources = open_available(env)
    clock = ManualClock(until_s=0.5)
    sampler = Sampler(sources, rate_hz=20, clock=clock)
    t0 = clock.now_ns()
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    t1 = clock.now_ns()
    summary = summarize(out.samples, out.gaps, window=(t0, t1), iterations=50)
    assert summary.energy_source == "integrated:jetson:total"
    assert summary.avg_power_mw == pytest.approx(8515)
    assert summary.energy_per_inference_mj == pytest.approx(8515 * (t1 - t0) / 1e9 / 50, rel=0.05)
    assert summary.peak_temp_mc == 52875  # tegrastats cpu@52.875C
    assert summary.throttled is False
