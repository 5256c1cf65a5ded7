"""Jetson tegrastats, INA3221 sysfs and jetson_clocks against real captures (fixtures/jetson)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.commands import ProcessLineStream
from rigbench.agent.telemetry.jetson import (
    JetsonSource,
    board_power,
    find_ina_channels,
    parse_jetson_clocks_show,
    parse_tegrastats_line,
    parse_tegrastats_log,
    tegrastats_readings,
)
from rigbench.agent.telemetry.recorded import parse_find_cat
from rigbench.errors import TelemetryError
from tests.paths import TELEMETRY_FIXTURES

JETSON = TELEMETRY_FIXTURES / "jetson"


def fixture(name: str) -> str:
    return (JETSON / name).read_text(encoding="utf-8")


def write(root: Path, rel: str, value: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Expected:
    """Values read off one capture by eye; the parser must find the same."""

    ram: tuple[int, int]
    cores_on: int
    cores_off: int
    core0: tuple[int, int]  # (util %, MHz)
    gpu: tuple[int | None, list[int]]  # (util %, MHz per GPC)
    emc: tuple[int | None, int | None]
    board_mw: float | None
    input_rail: bool | None
    temp: tuple[str, float] | None  # one sensor to check


CAPTURES = {
    "tegrastats_agx_orin_32gb_jp5_rudi2_unresolved.txt": Expected(
        (1205, 30623), 12, 0, (0, 729), (0, [114]), (0, 204), 4788 + 798 + 3842 + 707, False,
        ("gpu", 38.156)),
    "tegrastats_agx_orin_32gb_jp6_r36_irregular_spaces_datadog.txt": Expected(
        (29114, 30697), 12, 0, (3, 729), (0, [305, 305]), (1, 2133), 3205 + 4405 + 4767, False,
        ("gpu", 47.812)),
    "tegrastats_agx_orin_64gb_jp5_sudo_catid_unresolved.txt": Expected(
        (1282, 62795), 12, 0, (0, 729), (0, [0]), (0, 2133), 2399 + 400 + 4032 + 301, False,
        ("tboard", 32.0)),
    "tegrastats_agx_orin_64gb_jp6_nonroot_datadog.txt": Expected(
        (2448, 62840), 12, 0, (0, 2201), (0, []), (None, None), 4940 + 988 + 4442, False,
        ("soc0", 39.187)),
    "tegrastats_agx_orin_64gb_jp7_jetson_stats.txt": Expected(
        (20642, 62817), 12, 0, (23, 2201), (12, [1300, 1300]), (3, 3199), 5139 + 3268 + 5500,
        False, ("cpu", 52.968)),
    "tegrastats_agx_xavier_16gb_jp4_nonroot_datadog_2020.txt": Expected(
        (1903, 15692), 8, 0, (1, 1190), (0, []), (0, None), 216 + 864 + 144 + 1889, False,
        ("tdiode", 34.75)),
    "tegrastats_agx_xavier_32gb_jp4_sudo_datadog.txt": Expected(
        (721, 31927), 4, 4, (2, 1190), (0, [318]), (0, 665), 311 + 932 + 621 + 1482, False,
        ("thermal", 36.9)),
    "tegrastats_nano_jp4_nonroot_datadog_2020.txt": Expected(
        (613, 3964), 4, 0, (2, 102), (0, []), (0, None), 943, True, ("ao", 46.0)),
    "tegrastats_nano_jp4_sudo_datadog.txt": Expected(
        (534, 3964), 4, 0, (16, 204), (0, [76]), (0, 204), 1022, True, ("thermal", 36.25)),
    "tegrastats_nano_jp4_sudo_jetson_stats_2019.txt": Expected(
        (1180, 3965), 4, 0, (30, 1036), (0, [76]), (10, 1600), 4520, True, ("cpu", 60.5)),
    "tegrastats_orin_nano_8gb_jp6_idle_beszel.txt": Expected(
        (3452, 7620), 6, 0, (1, 1420), (0, []), (None, None), 4824, True, ("tj", 50.25)),
    "tegrastats_orin_nano_8gb_jp6_load_beszel.txt": Expected(
        (6185, 7620), 6, 0, (15, 729), (63, [621]), (43, 2133), 12479, True, ("gpu", 53.343)),
    "tegrastats_orin_nx_16gb_jp5_datadog.txt": Expected(
        (6334, 15388), 4, 4, (6, 729), (0, [611]), (0, 2133), 5299, True, ("tj", 48.875)),
    "tegrastats_tx1_l4t28_old_format_hordiales.txt": Expected(
        (3468, 3983), 4, 0, (17, 408), (3, [76]), (1, 408), None, None, None),
    "tegrastats_tx1_sudo_datadog.txt": Expected(
        (1179, 3983), 4, 0, (1, 102), (0, [76]), (7, 408), 2532, True, ("tdiode", 42.75)),
    "tegrastats_tx2_jp4_beszel.txt": Expected(
        (3276, 7859), 6, 0, (44, 1421), (0, [114]), (1, 1866), 5297, True, ("bcpu", 42.5)),
    "tegrastats_tx2_jp4_log_ssaraff98.txt": Expected(
        (896, 7859), 6, 0, (4, 2035), (0, []), (0, None), 1840, True, ("thermal", 32.8)),
    "tegrastats_tx2_jp4_sudo_datadog.txt": Expected(
        (2344, 7852), 4, 2, (1, 345), (0, [624]), (4, 1600), 3056, True, ("gpu", 35.0)),
    "tegrastats_tx2_l4t28_cores_off_datadog_2020.txt": Expected(
        (1345, 7829), 1, 5, (2, 345), (0, [114]), (13, 40), 2003, True, ("ao", 35.5)),
    "tegrastats_tx2_l4t28_jetson_stats_2019.txt": Expected(
        (4722, 7844), 6, 0, (55, 2035), (71, [1300]), (2, 1866), 14025, True, ("gpu", 51.0)),
    "tegrastats_xavier_nx_jp4_sudo_datadog.txt": Expected(
        (4412, 7772), 6, 0, (9, 1190), (62, [306]), (10, 1600), 4067, True, ("aux", 41.5)),
}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_tegrastats_line_of_every_generation_parses_to_the_captured_values(name: str):
    want = CAPTURES[name]
    s = parse_tegrastats_log(fixture(name))[0]
    assert (s.ram_used_mb, s.ram_total_mb) == want.ram
    assert sum(c is not None for c in s.cpus) == want.cores_on
    assert sum(c is None for c in s.cpus) == want.cores_off
    assert s.cpus[0] == want.core0
    assert (s.gpu_pct, s.gpu_mhz) == want.gpu
    assert (s.emc_pct, s.emc_mhz) == want.emc
    board = s.board_power()
    assert (board.power_mw if board else None) == want.board_mw
    assert (board.input_rail if board else None) == want.input_rail
    if want.temp is not None:
        assert s.temps_c[want.temp[0]] == want.temp[1]
    else:
        assert s.temps_c == {}


def test_date_prefix_of_jetpack_5_and_later_is_stripped():
    s = parse_tegrastats_line(fixture("tegrastats_orin_nano_8gb_jp6_load_beszel.txt"))
    assert s.ram_used_mb == 6185


def test_offline_sensors_at_minus_256_are_not_temperatures():
    s = parse_tegrastats_line(fixture("tegrastats_agx_orin_64gb_jp5_sudo_catid_unresolved.txt"))
    assert sorted(s.offline) == ["cv0", "cv1", "cv2", "gpu"]
    assert "gpu" not in s.temps_c


@pytest.mark.parametrize(
    "name", ["tegrastats_tx2_jp4_sudo_datadog.txt", "tegrastats_tx2_jp4_beszel.txt"]
)
def test_the_pmic_placeholder_is_not_a_temperature(name: str):
    assert "pmic" not in parse_tegrastats_line(fixture(name)).temps_c  # 100C and 50C seen


def test_jetpack_7_three_value_rails_keep_the_current_value():
    s = parse_tegrastats_line(fixture("tegrastats_agx_orin_64gb_jp7_jetson_stats.txt"))
    assert [(r.name, r.power_mw) for r in s.rails] == [
        ("VDD_GPU_SOC", 5139), ("VDD_CPU_CV", 3268), ("VIN_SYS_5V0", 5500)]


def test_rails_keep_current_and_running_average_apart():
    s = parse_tegrastats_line(fixture("tegrastats_nano_jp4_sudo_jetson_stats_2019.txt"))
    assert [(r.name, r.power_mw, r.avg_mw) for r in s.rails][0] == ("POM_5V_IN", 4520, 4680)


def test_agx_orin_keeps_both_nc_rails_in_order_but_never_adds_them():
    s = parse_tegrastats_log(fixture("tegrastats_agx_orin_32gb_jp5_rudi2_unresolved.txt"))[0]
    assert [r.name for r in s.rails].count("NC") == 2
    board = s.board_power()
    assert board is not None
    assert board.rails == ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO")
    assert "jetson:NC" not in {r.sensor for r in tegrastats_readings(s)}


def test_tx2_input_rail_in_the_middle_of_the_rails_is_still_the_board_power():
    s = parse_tegrastats_line(fixture("tegrastats_tx2_jp4_sudo_datadog.txt"))
    board = s.board_power()
    assert board is not None and board.rails == ("VDD_IN",) and board.power_mw == 3056


def test_old_l4t_28_format_applies_the_one_frequency_to_every_core():
    lines = parse_tegrastats_log(fixture("tegrastats_tx1_l4t28_old_format_hordiales.txt"))
    assert lines[1].cpus == [(17, 1734), (11, 1734), (65, 1734), (0, 1734)]
    assert (lines[1].gpu_pct, lines[1].gpu_mhz) == (39, [76])


def test_the_tx2_log_skips_the_date_header_and_follows_idle_to_load():
    samples = parse_tegrastats_log(fixture("tegrastats_tx2_jp4_log_ssaraff98.txt"))
    assert len(samples) == 432  # 433 lines, the first is `date` output
    inputs = [next(r for r in s.rails if r.name == "VDD_IN") for s in samples]
    assert (inputs[0].power_mw, inputs[0].avg_mw) == (1840, 1840)  # average starts at current
    assert (inputs[5].power_mw, inputs[5].avg_mw) == (4061, 2031)
    assert max(r.power_mw for r in inputs) > 5 * min(r.power_mw for r in inputs)


def test_gpu_clock_per_gpc_and_rail_gated_gpu_clock_is_not_reported():
    orin = tegrastats_readings(parse_tegrastats_line(
        fixture("tegrastats_agx_orin_32gb_jp6_r36_irregular_spaces_datadog.txt")))
    clocks = {r.sensor: r.value for r in orin if r.metric == "clock_khz" and "gpu" in r.sensor}
    assert clocks == {"jetson:gpu:gpc0": 305000, "jetson:gpu:gpc1": 305000}
    gated = tegrastats_readings(parse_tegrastats_line(
        fixture("tegrastats_agx_orin_64gb_jp5_sudo_catid_unresolved.txt")))
    assert not [r for r in gated if r.sensor.startswith("jetson:gpu") and r.metric == "clock_khz"]


def test_engines_report_their_clock_when_on_and_nothing_when_off():
    readings = tegrastats_readings(parse_tegrastats_line(
        fixture("tegrastats_nano_jp4_sudo_jetson_stats_2019.txt")))
    clocks = {r.sensor: r.value for r in readings if r.metric == "clock_khz"}
    assert clocks["jetson:nvenc"] == 716000 and clocks["jetson:nvdec"] == 716000
    off = tegrastats_readings(parse_tegrastats_line(
        fixture("tegrastats_orin_nano_8gb_jp6_load_beszel.txt")))
    assert not [r for r in off if r.sensor in ("jetson:nvdec", "jetson:vic")]


def test_readings_carry_units_in_their_metric_names():
    readings = tegrastats_readings(parse_tegrastats_line(
        fixture("tegrastats_xavier_nx_jp4_sudo_datadog.txt")))
    values = {(r.sensor, r.metric): r.value for r in readings}
    assert values[("jetson:temp:cpu", "temp_mc")] == 43500
    assert values[("jetson:cpu5", "clock_khz")] == 1267000
    assert values[("jetson:gpu", "util_pct")] == 62
    assert values[("jetson:ram", "mem_used_kb")] == 4412 * 1024
    assert values[("jetson:total", "power_mw")] == 4067
    assert values[("jetson:VDD_SOC", "power_mw")] == 1353


def test_a_line_that_is_not_tegrastats_output_is_an_error():
    with pytest.raises(TelemetryError):
        parse_tegrastats_line("Tue Jan 26 18:22:31 UTC 2021")


@given(st.lists(st.tuples(st.sampled_from(["VDD_IN", "VDD_CPU", "VDD_GPU", "NC", "SOC"]),
                          st.integers(0, 20000)), min_size=1, max_size=6))
def test_board_power_never_adds_rails_to_an_input_rail(rails: list[tuple[str, int]]):
    board = board_power([(n, float(mw)) for n, mw in rails])
    connected = [(n, mw) for n, mw in rails if n != "NC"]
    if any(n == "VDD_IN" for n, _ in rails):
        assert board is not None
        assert board.power_mw == next(mw for n, mw in rails if n == "VDD_IN")
    elif connected:
        assert board is not None and board.power_mw == sum(mw for _, mw in connected)
    else:
        assert board is None


# --- jetson_clocks --show ----------------------------------------------------------------------


def test_jetson_clocks_show_gives_cpu_khz_and_gpu_emc_hz():
    clocks = parse_jetson_clocks_show(
        fixture("jetson_clocks_show_agx_orin_64gb_jp5_catid_unresolved.txt"))
    assert len(clocks.cpus_khz) == 12
    assert clocks.cpus_khz["cpu10"].current == 1113600
    assert (clocks.cpus_khz["cpu0"].min, clocks.cpus_khz["cpu0"].max) == (729600, 2201600)
    assert clocks.gpu_hz is not None and clocks.gpu_hz.max == 1300500000
    assert clocks.emc_hz is not None and clocks.emc_hz.current == 2133000000
    assert clocks.power_mode == "MAXN"


# --- INA3221 sysfs -----------------------------------------------------------------------------


def test_jetpack_4_iio_rails_are_read_by_rail_name_in_milliwatts(tmp_path: Path):
    # The Nano's tegrastats line prints these very files (in_power<n>_input, mW).
    s = parse_tegrastats_line(fixture("tegrastats_nano_jp4_sudo_datadog.txt"))
    dev = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for n, rail in enumerate(s.rails):
        write(tmp_path, f"{dev}/rail_name_{n}", rail.name)
        write(tmp_path, f"{dev}/in_power{n}_input", str(int(rail.power_mw)))
    env = SensorEnv(root=tmp_path)
    info = JetsonSource.probe(env)
    assert info.status is SourceStatus.AVAILABLE
    assert "input rail POM_5V_IN" in info.detail
    values = {r.sensor: r.value for r in JetsonSource.open(env).read()}
    assert values == {"jetson:POM_5V_IN": 1022, "jetson:POM_5V_GPU": 0, "jetson:POM_5V_CPU": 204,
                      "jetson:total": 1022}


def test_jetpack_5_hwmon_rails_multiply_millivolts_by_milliamps(tmp_path: Path):
    # Layout of the Xavier NX JP5 chip (channels 1-3 + channel 7 "sum of shunt voltages").
    # No numeric capture exists; these numbers only exercise P = mV * mA / 1000.
    dev = "sys/bus/i2c/drivers/ina3221/7-0040/hwmon/hwmon6"
    for k, (label, mv, ma) in enumerate(
        [("VDD_IN", 5000, 1060), ("VDD_CPU_GPU_CV", 5000, 150), ("VDD_SOC", 5000, 290)], 1
    ):
        write(tmp_path, f"{dev}/in{k}_label", label)
        write(tmp_path, f"{dev}/in{k}_input", str(mv))
        write(tmp_path, f"{dev}/curr{k}_input", str(ma))
    write(tmp_path, f"{dev}/in7_label", "sum of shunt voltages")
    write(tmp_path, f"{dev}/in7_input", "12")
    source = JetsonSource.open(SensorEnv(root=tmp_path))
    values = {(r.sensor, r.metric): r.value for r in source.read()}
    assert values[("jetson:VDD_IN", "power_mw")] == 5300.0
    assert values[("jetson:VDD_IN", "current_ma")] == 1060
    assert values[("jetson:total", "power_mw")] == 5300.0
    assert not any("sum of shunt" in s for s, _ in values)


def test_a_channel_that_fails_to_read_is_a_problem_and_the_total_is_withheld(tmp_path: Path):
    dev = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    write(tmp_path, f"{dev}/rail_name_0", "POM_5V_IN")
    write(tmp_path, f"{dev}/in_power0_input", "943")
    write(tmp_path, f"{dev}/rail_name_1", "POM_5V_CPU")
    write(tmp_path, f"{dev}/in_power1_input", "123")
    source = JetsonSource.open(SensorEnv(root=tmp_path))
    (tmp_path / dev / "in_power0_input").unlink()  # EIO/vanished: the input rail is lost
    readings = source.read()
    assert [r.sensor for r in readings] == ["jetson:POM_5V_CPU"]
    assert len(source.problems()) == 1


def test_the_partial_agx_orin_ina3221_dump_has_no_usable_channel(tmp_path: Path):
    files = parse_find_cat(fixture("ina3221_hwmon_agx_orin_1-0041_find_cat_partial_alumet212.txt"))
    assert files["/sys/bus/i2c/drivers/ina3221/1-0041/name"] == "ina3221"
    assert files["/sys/bus/i2c/drivers/ina3221/1-0041/hwmon/hwmon2/curr1_crit_alarm"] == "0"
    assert files["/sys/bus/i2c/drivers/ina3221/1-0041/power/autosuspend_delay_ms"] is None  # EIO
    assert "OF_FULLNAME=/bus@0/i2c@c240000/ina3221@41" in files[
        "/sys/bus/i2c/drivers/ina3221/1-0041/uevent"]
    for path, value in files.items():
        if value is not None:
            write(tmp_path, path, value)
    assert find_ina_channels(tmp_path) == []  # no in*_label/in*_input was captured


# --- tegrastats as a stream --------------------------------------------------------------------


def test_tegrastats_mode_reads_the_newest_line_of_a_real_child_process(tmp_path: Path):
    line = fixture("tegrastats_orin_nx_16gb_jp5_datadog.txt").strip()
    script = tmp_path / "tegrastats.py"
    script.write_text(f"import sys, time\nprint({line!r}, flush=True)\ntime.sleep(30)\n")
    env = SensorEnv(root=tmp_path,
                    spawn=lambda argv: ProcessLineStream([sys.executable, str(script)]))
    source = JetsonSource.open(env)
    try:
        assert JetsonSource.probe(env).update_period_s == 0.5
        assert source.read() == []  # the one line was consumed by open; nothing new yet
    finally:
        source.close()


def test_tegrastats_line_is_turned_into_readings_on_read(tmp_path: Path):
    lines = fixture("tegrastats_agx_orin_32gb_jp5_rudi2_unresolved.txt").splitlines()

    class Replay:
        def __init__(self) -> None:
            self.pending = list(lines)

        def latest(self, wait_s: float = 0.0) -> str | None:
            return self.pending.pop(0) if self.pending else None

        def close(self) -> None:
            self.pending = []

    source = JetsonSource.open(SensorEnv(root=tmp_path, spawn=lambda argv: Replay()))
    values = {(r.sensor, r.metric): r.value for r in source.read()}
    assert values[("jetson:temp:cpu", "temp_mc")] == 43906  # the second capture line
    assert values[("jetson:cpu0", "clock_khz")] == 732000
    assert source.read() == []  # no newer line


def test_not_a_jetson_is_not_available(tmp_path: Path):
    info = JetsonSource.probe(SensorEnv(root=tmp_path))
    assert info.status is SourceStatus.NOT_AVAILABLE
