"""nvidia-smi CSV, `-q` text and `-q -x` XML parsing against real captures (fixtures/nvml)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.nvml import (
    QUERY_FIELDS,
    REASON_BITS,
    NvmlSource,
    decode_reasons,
    number,
    parse_q_xml,
    parse_query_csv,
    parse_reason_mask,
    parse_smi_timestamp,
    snapshot_from_csv_row,
    snapshot_from_q_xml,
    snapshot_readings,
)
from rigbench.errors import TelemetryError
from tests.captures import (
    parse_exporter_raw_values,
    parse_help_query_gpu,
    parse_q_text,
    snapshot_from_q_text,
)
from tests.paths import TELEMETRY_FIXTURES

NVML = TELEMETRY_FIXTURES / "nvml"
CSV_QUERY = f"nvidia-smi --query-gpu={','.join(QUERY_FIELDS)} --format=csv"


def fixture(name: str) -> str:
    return (NVML / name).read_text(encoding="utf-8")


def replay(outputs: dict[str, list[str]]):
    """A runner answering each argv with its recorded outputs in turn."""

    def run(argv: Sequence[str], timeout_s: float) -> str:
        key = " ".join(argv)
        if not outputs.get(key):
            raise TelemetryError(f"{key} exited with status 2: Field is not a valid field")
        return outputs[key].pop(0) if len(outputs[key]) > 1 else outputs[key][0]

    return run


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_header_units_are_dropped_and_values_keep_their_unit_suffix():
    rows = parse_query_csv(fixture("nvidia_smi_query_csv_driver520_ksysguard27.txt"))
    assert len(rows) == 13
    assert rows[0]["power.draw"] == "83.92 W"
    assert rows[0]["temperature.gpu"] == "56"  # no unit in header or value
    assert rows[0]["pstate"] == "P3"


def test_csv_row_becomes_a_snapshot_in_milliwatts_and_megahertz():
    rows = parse_query_csv(fixture("nvidia_smi_query_csv_driver520_ksysguard27.txt"))
    s = snapshot_from_csv_row(rows[1])
    assert s.power_mw == pytest.approx(78220.0)
    assert (s.temp_c, s.sm_mhz, s.mem_mhz, s.graphics_mhz) == (55, 1470, 5001, 1470)
    assert s.util_pct == 25
    assert s.active_reasons is None  # not queried in that capture: unknown, not "none"


def test_csv_power_series_of_the_capture_is_read_in_order():
    rows = parse_query_csv(fixture("nvidia_smi_query_csv_driver520_ksysguard27.txt"))
    watts = [snapshot_from_csv_row(r).power_mw for r in rows]
    assert watts[0] == pytest.approx(83920) and watts[-1] == pytest.approx(83430)
    assert min(w for w in watts if w) == pytest.approx(76640)


def test_supported_reasons_mask_is_16_hex_digits_and_may_hold_bits_old_headers_lack():
    rows = parse_query_csv(
        fixture("nvidia_smi_query_csv_throttle_reasons_supported_gtx1080_nvsettings80.txt"))
    mask = parse_reason_mask(rows[0]["clocks_throttle_reasons.supported"])
    assert mask == 0x1FF
    assert decode_reasons(mask or 0) == [REASON_BITS[1 << b] for b in range(9)]
    assert "display_clock_setting" in decode_reasons(mask or 0)  # 0x100, missing in old nvml.h


def test_unknown_reason_bits_are_kept_by_value():
    assert decode_reasons(0x804) == ["sw_power_cap", "bit_0x800"]


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_reason_decoding_keeps_every_set_bit(mask: int):
    assert len(decode_reasons(mask)) == bin(mask).count("1")


def test_strings_such_as_driver_versions_are_not_numbers():
    raw = parse_exporter_raw_values(
        fixture("nvidia_smi_query_raw_values_a100_pcie_40gb_driver510_exporter67.txt"))
    assert raw["driver_version"] == "510.47.03"
    assert number(raw["driver_version"]) is None
    assert raw["name"] == "NVIDIA A100-PCIE-40GB"
    assert raw["pci.bus_id"] == "00000000:17:00.0"
    assert parse_smi_timestamp(raw["timestamp"]) == datetime(2022, 3, 22, 20, 23, 46, 283000)


def test_a_truncated_csv_row_leaves_the_missing_fields_empty():
    text = fixture("nvidia_smi_query_raw_values_a100_pcie_40gb_driver510_exporter67.txt")
    rows = parse_query_csv(text.split("--format=csv", 1)[1])
    assert rows == [{"timestamp": "2022/03/22", "driver_version": None}]


@pytest.mark.parametrize("missing", ["[N/A]", "[Not Supported]"])
def test_unsupported_fields_are_missing_not_zero(missing: str):
    rows = parse_query_csv(f"index, power.draw [W]\n0, {missing}\n")
    assert snapshot_from_csv_row(rows[0]).power_mw is None


def test_every_field_the_agent_queries_exists_in_the_r460_help_text():
    fields = parse_help_query_gpu(fixture("nvidia_smi_help_query_gpu_r460era_pynvml.txt"))
    assert set(QUERY_FIELDS) <= set(fields)
    assert "in watts" in fields["power.draw"]
    assert "in degrees C" in fields["temperature.gpu"]
    assert fields["clocks.sm"] == fields["clocks.current.sm"]  # aliases share a description


# --- -q text -----------------------------------------------------------------------------------


def test_q_text_power_draw_and_current_clocks_not_max_clocks():
    gpu = parse_q_text(fixture("nvidia_smi_q_text_power_clocks_excerpt_gputil38.txt"))[0]
    s = snapshot_from_q_text(gpu)
    assert s.power_mw == pytest.approx(65790)
    assert (s.sm_mhz, s.mem_mhz) == (1480, 5005)  # not Max Clocks 1911/5505
    assert gpu["Max Clocks/SM"] == "1911 MHz"


def test_q_text_module_power_na_is_not_gpu_power():
    gpu = parse_q_text(fixture("nvidia_smi_q_text_a100_module_power_excerpt_dcgm152.txt"))[0]
    s = snapshot_from_q_text(gpu)
    assert gpu["Module Power Readings/Power Draw"] == "N/A"
    assert s.power_mw is None
    assert s.sm_mhz == 1410 and gpu["Applications Clocks/Graphics"] == "1155 MHz"


def test_q_text_idle_reason_is_active_but_not_throttling():
    gpu = parse_q_text(fixture("nvidia_smi_q_text_clocks_throttle_reasons_idle_kubeflow68.txt"))[0]
    s = snapshot_from_q_text(gpu)
    assert s.active_reasons == ["gpu_idle"]
    assert gpu["Clocks Throttle Reasons/HW Thermal Slowdown"] == "Not Active"  # nested under HW
    flags = {r.sensor: r.value for r in snapshot_readings(s) if r.metric == "throttled"}
    assert "nvml:gpu0:gpu_idle" not in flags
    assert set(flags.values()) == {0.0}


# --- -q -x XML ---------------------------------------------------------------------------------


def test_xml_pre_535_power_readings_and_temperature():
    s = snapshot_from_q_xml(parse_q_xml(
        fixture("nvidia_smi_q_x_excerpt_power_readings_pre535_telegraf12996.txt"))[0])
    assert s.power_mw == pytest.approx(18000)
    assert s.temp_c == 32
    assert s.graphics_mhz == 1665


def test_xml_535_gpu_power_readings_and_not_the_na_module_reading():
    gpu = parse_q_xml(fixture("nvidia_smi_q_x_excerpt_gpu_power_readings_535plus_astra131.txt"))[0]
    s = snapshot_from_q_xml(gpu)
    assert s.power_mw == pytest.approx(37620)
    assert gpu["module_power_readings/power_draw"] == "N/A"
    assert gpu["gpu_power_readings/current_power_limit"] == "385.00 W"
    assert (s.sm_mhz, s.mem_mhz) == (840, 810)


def test_xml_clocks_event_reasons_excerpt_reports_no_active_reason():
    gpu = parse_q_xml(fixture("nvidia_smi_q_x_excerpt_clocks_event_reasons_telegraf16569.txt"))[0]
    s = snapshot_from_q_xml(gpu)
    assert gpu["clocks_event_reason_sync_boost"] == "Not Active"
    assert s.active_reasons == []
    assert s.mem_used_mib == 116


def test_xml_reads_each_gpu_of_a_whole_document_separately():
    excerpt = fixture("nvidia_smi_q_x_excerpt_gpu_power_readings_535plus_astra131.txt")
    doc = ('<?xml version="1.0" ?>\n<nvidia_smi_log>\n<driver_version>535.1</driver_version>\n'
           f'<gpu id="0">\n{excerpt}\n</gpu>\n<gpu id="1">\n{excerpt}\n</gpu>\n</nvidia_smi_log>')
    gpus = parse_q_xml(doc)
    assert len(gpus) == 2
    assert [snapshot_from_q_xml(g).power_mw for g in gpus] == [37620.0, 37620.0]


# --- the source --------------------------------------------------------------------------------


def _csv_rows() -> list[str]:
    header, *rows = fixture("nvidia_smi_query_csv_driver520_ksysguard27.txt").splitlines()
    return [f"{header}\n{row}\n" for row in rows]


def test_nvidia_smi_source_reports_power_temperature_and_clocks_of_the_capture():
    env = SensorEnv(run=replay({CSV_QUERY: _csv_rows()}), simulated=True)
    info = NvmlSource.probe(env)
    assert info.status is SourceStatus.AVAILABLE
    assert "nvidia-smi" in info.detail
    source = NvmlSource.open(env)
    values = {(r.sensor, r.metric): r.value for r in source.read()}
    assert values[("nvml:gpu0", "power_mw")] == pytest.approx(84770)  # third row
    assert values[("nvml:gpu0", "temp_mc")] == 56000
    assert values[("nvml:gpu0:sm", "clock_khz")] == 1470000
    assert values[("nvml:total", "power_mw")] == pytest.approx(84770)
    assert source.min_interval_s >= 1.0  # nvidia-smi forks; never at the sampler's full rate


def test_when_the_csv_query_is_rejected_the_xml_report_is_used():
    xml = fixture("nvidia_smi_q_x_excerpt_power_readings_pre535_telegraf12996.txt")
    env = SensorEnv(run=replay({"nvidia-smi -q -x": [xml]}), simulated=True)
    values = {(r.sensor, r.metric): r.value for r in NvmlSource.open(env).read()}
    assert values[("nvml:gpu0", "power_mw")] == pytest.approx(18000)


def test_a_gpu_reporting_nothing_measurable_is_not_available():
    # As on Jetson: the tool answers, but power/temperature/clocks are not supported.
    xml = fixture("nvidia_smi_q_x_excerpt_clocks_event_reasons_telegraf16569.txt")
    env = SensorEnv(run=replay({"nvidia-smi -q -x": [xml]}), simulated=True)
    info = NvmlSource.probe(env)
    assert info.status is SourceStatus.NOT_AVAILABLE
    assert "not supported" in info.detail


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_on_a_machine_without_nvidia_tools_the_source_is_not_available():
    assert NvmlSource.probe(SensorEnv()).status is SourceStatus.NOT_AVAILABLE


def test_reason_bit_table_matches_nvml_constants_of_nvml_h_and_pynvml():
    rows = [ln for ln in fixture("nvml_constants.md").splitlines()
            if re.match(r"^\| `0x[0-9A-Fa-f]{16}`", ln)]
    documented = {}
    for row in rows:
        value = int(re.search(r"`(0x[0-9A-Fa-f]{16})`", row).group(1), 16)  # type: ignore[union-attr]
        name = re.search(r"Reason([A-Z][A-Za-z]+)", row)
        if value and name:
            documented[value] = re.sub(r"(?<!^)(?=[A-Z])", "_", name.group(1)).lower()
    assert documented == REASON_BITS
    assert len(documented) == 11  # 0x1 .. 0x400
