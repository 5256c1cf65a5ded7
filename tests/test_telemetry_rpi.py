"""Raspberry Pi vcgencmd parsing against captures from real boards (fixtures/telemetry/rpi)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.rpi import (
    RpiSource,
    decode_throttled,
    parse_get_throttled,
    parse_measure_clock_hz,
    parse_measure_temp,
    parse_measure_volts_mv,
    parse_pmic_read_adc,
    pmic_readings,
    throttle_readings,
)
from rigbench.errors import TelemetryError
from tests.paths import TELEMETRY_FIXTURES

RPI = TELEMETRY_FIXTURES / "rpi"
PI5_ALPHA_PARTIAL = "vcgencmd_pmic_read_adc_pi5_alpha_idle_partial_geerling.txt"


def fixture(name: str) -> str:
    return (RPI / name).read_text(encoding="utf-8")


def replay(outputs: dict[str, str]):
    """A command runner answering from captured text, failing like vcgencmd otherwise."""

    def run(argv: Sequence[str], timeout_s: float) -> str:
        key = " ".join(argv)
        if key not in outputs:
            raise TelemetryError(f"{key} exited with status 255: Command not registered")
        return outputs[key]

    return run


# --- measure_temp ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "millidegrees"),
    [
        ("vcgencmd_measure_temp_bashtop88.txt", 52100),
        ("vcgencmd_measure_temp_openelec_glances1048.txt", 49400),
        ("vcgencmd_pi3bplus_clock_temp_throttled_duckietown.txt", 62300),
        ("vcgencmd_pi3bplus_idle_slowrunner.txt", 45600),
        ("vcgencmd_pi3bplus_soft_temp_limit_0x80008_slowrunner.txt", 65500),
        ("vcgencmd_pi5_8gb_stress_slowrunner.txt", 70300),
        ("vcgencmd_pi5_throttled_temp_volts_geerling.txt", 39500),
    ],
)
def test_measure_temp_is_read_in_millidegrees_from_every_capture(name: str, millidegrees: int):
    assert parse_measure_temp(fixture(name)) == millidegrees


def test_measure_temp_without_a_number_is_an_error_not_zero():
    with pytest.raises(TelemetryError):
        parse_measure_temp("VCHI initialization failed")


# --- measure_clock -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hz"),
    [
        ("vcgencmd_pi5_8gb_stress_slowrunner.txt", 2400004352),  # id 0 on Pi 5, odd value normal
        ("vcgencmd_pi3bplus_soft_temp_limit_0x80008_slowrunner.txt", 1200000000),  # id 48
        ("vcgencmd_pi3bplus_idle_slowrunner.txt", 700000000),
        ("vcgencmd_pi3bplus_clock_temp_throttled_duckietown.txt", 1400000000),  # id 45
    ],
)
def test_arm_clock_is_the_number_after_the_equals_sign_whatever_the_clock_id(name: str, hz: int):
    assert parse_measure_clock_hz(fixture(name)) == hz


def test_every_clock_of_the_openelec_loop_parses_and_gated_blocks_read_zero():
    text = fixture("vcgencmd_measure_clock_all_openelec_glances1048.txt")
    lines = [ln for ln in text.splitlines() if "\t" in ln]
    clocks = {name.rstrip(":"): parse_measure_clock_hz(out) for name, out in
              (ln.split("\t", 1) for ln in lines)}
    assert clocks["arm"] == 600000000
    assert clocks["uart"] == 47999000
    assert clocks["hdmi"] == 163683000
    assert [n for n, hz in clocks.items() if hz == 0] == ["v3d", "pwm", "vec", "dpi"]
    assert len(clocks) == 12


def test_a_power_gated_clock_reading_zero_is_not_reported_as_a_clock():
    text = fixture("vcgencmd_measure_clock_v3d_pi5_idle_zero_rpilinux7348.txt")
    assert parse_measure_clock_hz(text) == 0
    env = SensorEnv(run=replay({"vcgencmd measure_clock arm": text}))
    readings = RpiSource.open(env).read()
    assert [r for r in readings if r.metric == "clock_khz"] == []


def test_measure_volts_is_read_in_millivolts():
    assert parse_measure_volts_mv(fixture("vcgencmd_pi5_throttled_temp_volts_geerling.txt")) == (
        pytest.approx(720.0)
    )


# --- get_throttled -----------------------------------------------------------------------------


def test_get_throttled_0x80008_is_soft_limit_now_and_soft_limit_occurred():
    mask = parse_get_throttled(fixture("vcgencmd_pi3bplus_soft_temp_limit_0x80008_slowrunner.txt"))
    assert mask == 0x80008
    active = {(f.reason, f.occurred) for f in decode_throttled(mask) if f.active}
    assert active == {("soft-temp-limit", False), ("soft-temp-limit", True)}


@pytest.mark.parametrize(
    "name",
    [
        "vcgencmd_pi3bplus_idle_slowrunner.txt",
        "vcgencmd_pi3bplus_clock_temp_throttled_duckietown.txt",
        "vcgencmd_pi5_8gb_stress_slowrunner.txt",
        "vcgencmd_pi5_throttled_temp_volts_geerling.txt",  # has an author's "# ..." annotation
    ],
)
def test_get_throttled_zero_means_no_condition(name: str):
    mask = parse_get_throttled(fixture(name))
    assert mask == 0
    assert not any(f.active for f in decode_throttled(mask))


def test_man_page_example_0x50000_is_under_voltage_and_throttling_occurred_not_now():
    active = {(f.reason, f.occurred) for f in decode_throttled(0x50000) if f.active}
    assert active == {("under-voltage", True), ("throttled", True)}


def test_bit_16_is_0x10000_not_the_0x1000_of_broken_third_party_tables():
    assert not any(f.active for f in decode_throttled(0x1000) if f.bit in (16, 17, 18, 19))
    assert [f.reason for f in decode_throttled(0x10000) if f.active] == ["under-voltage"]


def test_bit_17_is_arm_frequency_capping_and_bit_18_throttling():
    assert [f.reason for f in decode_throttled(0x20000) if f.active] == ["arm-frequency-capped"]
    assert [f.reason for f in decode_throttled(0x40000) if f.active] == ["throttled"]


def test_undocumented_bits_are_kept_not_dropped():
    assert [f.reason for f in decode_throttled(1 << 20) if f.active] == ["bit20"]


@given(st.integers(min_value=0, max_value=(1 << 32) - 1))
def test_decoding_loses_no_set_bit(mask: int):
    rebuilt = sum(1 << f.bit for f in decode_throttled(mask) if f.active)
    assert rebuilt == mask


def test_now_bits_are_throttled_flags_and_sticky_bits_are_counters():
    readings = {(r.sensor, r.metric): r.value for r in throttle_readings(0x80008)}
    assert readings[("rpi:soft-temp-limit", "throttled")] == 1.0
    assert readings[("rpi:soft-temp-limit:occurred", "throttle_count")] == 1.0
    assert readings[("rpi:under-voltage", "throttled")] == 0.0
    assert len(readings) == 8


# --- pmic_read_adc -----------------------------------------------------------------------------


def test_pmic_rails_are_paired_by_name_although_their_indices_differ():
    pmic = parse_pmic_read_adc(fixture("vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt"))
    assert pmic.current_a["VDD_CORE"] == pytest.approx(6.22421)  # current(7)
    assert pmic.volt_v["VDD_CORE"] == pytest.approx(0.861733)  # volt(15)
    assert pmic.rail_power_mw()["VDD_CORE"] == pytest.approx(6.22421 * 0.861733 * 1000)
    assert len(pmic.rail_power_mw()) == 12  # EXT5V and BATT have no current line


def test_pmic_total_is_the_sum_of_the_paired_rails():
    pmic = parse_pmic_read_adc(fixture("vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt"))
    expected = sum(pmic.current_a[r] * pmic.volt_v[r] for r in pmic.current_a) * 1000
    assert pmic.total_mw() == pytest.approx(expected)
    assert pmic.total_mw() == pytest.approx(7239.8, abs=0.1)


def test_pmic_readings_report_the_5v_input_voltage_but_not_an_absent_battery():
    readings = pmic_readings(parse_pmic_read_adc(
        fixture("vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt")))
    volts = {r.sensor: r.value for r in readings if r.metric == "voltage_mv"}
    assert volts == {"rpi:pmic:EXT5V": pytest.approx(5090.66)}
    total = [r for r in readings if r.sensor == "rpi:total"]
    assert total[0].metric == "power_mw"


def test_pmic_parses_the_nul_separated_mailbox_form():
    text = fixture("vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt").replace("\n", "\0")
    assert parse_pmic_read_adc(text).current_a["HDMI"] == pytest.approx(0.0241758)


def test_pmic_rail_names_follow_the_firmware_not_a_hard_coded_list():
    pmic = parse_pmic_read_adc(fixture(PI5_ALPHA_PARTIAL))
    assert pmic.current_a["0V8_SYS"] == pytest.approx(0.2693567)  # 0V8_SW on later firmware
    assert pmic.current_a["DDR_VDDQ"] == 0.0  # a measured zero at idle, kept
    # the author truncated the listing before any voltage line: no rail can be paired
    assert pmic.volt_v == {}
    assert pmic.rail_power_mw() == {}


# --- the source --------------------------------------------------------------------------------


def test_a_pi_5_reports_soc_temperature_real_arm_clock_flags_and_pmic_power():
    stress = fixture("vcgencmd_pi5_8gb_stress_slowrunner.txt").replace("# ", "")
    env = SensorEnv(run=replay({
        "vcgencmd measure_temp": stress,
        "vcgencmd measure_clock arm": stress,
        "vcgencmd get_throttled": stress,
        "vcgencmd pmic_read_adc": fixture("vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt"),
    }))
    info = RpiSource.probe(env)
    assert info.status is SourceStatus.AVAILABLE
    assert "not total board power" in info.detail
    values = {(r.sensor, r.metric): r.value for r in RpiSource.open(env).read()}
    assert values[("rpi:soc", "temp_mc")] == 70300
    assert values[("rpi:arm", "clock_khz")] == pytest.approx(2400004.352)
    assert values[("rpi:throttled", "throttled")] == 0.0
    assert values[("rpi:total", "power_mw")] == pytest.approx(7239.8, abs=0.1)


def test_a_pi_3_has_no_pmic_and_the_source_uses_the_commands_that_work():
    text = fixture("vcgencmd_pi3bplus_soft_temp_limit_0x80008_slowrunner.txt")
    env = SensorEnv(run=replay({
        "vcgencmd measure_temp": text,
        "vcgencmd measure_clock arm": text,
        "vcgencmd get_throttled": text,
    }))
    source = RpiSource.open(env)
    values = {(r.sensor, r.metric): r.value for r in source.read()}
    assert values[("rpi:arm", "clock_khz")] == 1200000
    assert values[("rpi:soft-temp-limit", "throttled")] == 1.0
    assert not any(s.startswith("rpi:pmic") for s, _ in values)
    assert source.problems() == []


def test_without_vcgencmd_the_source_is_not_available():
    def missing(argv: Sequence[str], timeout_s: float) -> str:
        raise TelemetryError("vcgencmd is not installed (not on PATH)")

    info = RpiSource.probe(SensorEnv(run=missing))
    assert info.status is SourceStatus.NOT_AVAILABLE


def test_without_access_to_dev_vcio_the_source_needs_permission_and_says_how():
    def denied(argv: Sequence[str], timeout_s: float) -> str:
        raise TelemetryError("vcgencmd exited with status 255: Can't open device file: /dev/vcio")

    info = RpiSource.probe(SensorEnv(run=denied))
    assert info.status is SourceStatus.NEEDS_PERMISSION
    assert "video group" in info.detail


def test_a_command_that_starts_failing_is_a_problem_while_the_others_still_read():
    text = fixture("vcgencmd_pi3bplus_idle_slowrunner.txt")
    outputs = {"vcgencmd measure_temp": text, "vcgencmd get_throttled": text}
    source = RpiSource.open(SensorEnv(run=replay(outputs)))
    del outputs["vcgencmd measure_temp"]
    readings = source.read()
    assert [r.sensor for r in readings if r.metric == "temp_mc"] == []
    assert any(r.sensor == "rpi:throttled" for r in readings)
    assert len(source.problems()) == 1


def test_a_truncated_pmic_listing_reports_no_power_rather_than_zero():
    pmic = parse_pmic_read_adc(fixture(PI5_ALPHA_PARTIAL))
    with pytest.raises(TelemetryError):
        pmic_readings(pmic)
