"""Thermal zones read by type, against captured zone listings and values (rpi, jetson, x86)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.recorded import (
    parse_cat_transcript,
    parse_grep_dump,
    parse_zone_listing,
    parse_zone_types,
)
from rigbench.agent.telemetry.thermal import ThermalSource, find_zones, plausible_temp_mc
from rigbench.errors import TelemetryError
from tests.paths import TELEMETRY_FIXTURES


def fixture(rel: str) -> str:
    return (TELEMETRY_FIXTURES / rel).read_text(encoding="utf-8")


def write(root: Path, rel: str, value: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")


def zones_tree(root: Path, zones: list[tuple[str, float]]) -> Path:
    for i, (kind, temp_c) in enumerate(zones):
        write(root, f"sys/class/thermal/thermal_zone{i}/type", kind)
        write(root, f"sys/class/thermal/thermal_zone{i}/temp", str(round(temp_c * 1000)))
    return root


def read(root: Path) -> dict[str, float]:
    return {r.sensor: r.value for r in ThermalSource.open(SensorEnv(root=root)).read()}


def test_pi_zone0_temp_is_millidegrees(tmp_path: Path):
    files = parse_cat_transcript(fixture("rpi/thermal_zone0_temp_pi1_pi2_rpilinux995.txt"))
    assert files == {"/sys/class/thermal/thermal_zone0/temp": "35780"}
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", files[
        "/sys/class/thermal/thermal_zone0/temp"])
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal")  # type not captured
    assert read(tmp_path) == {"thermal:cpu-thermal": 35780}


def test_acpitz_zone_of_the_laptop_dump(tmp_path: Path):
    files = parse_grep_dump(fixture("x86/thermal_zone0_acpitz_grep_excerpt_thermald231.txt"))
    assert files["/sys/class/thermal/thermal_zone0/temp"] == "25000"
    assert files["/sys/class/thermal/thermal_zone0/trip_point_0_temp"] == "107000"
    assert files["/sys/class/thermal/thermal_zone0/hwmon0/name"] == "acpitz"
    for path, value in files.items():
        write(tmp_path, path, value)
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "acpitz")  # the hwmon mirror's name
    assert read(tmp_path) == {"thermal:acpitz": 25000}  # zone1 has no temp in the excerpt


def test_orin_nano_zones_of_powered_off_cv_clusters_are_not_available(tmp_path: Path):
    zones = parse_zone_listing(fixture("jetson/thermal_zones_orin_nano_idle_unresolved.txt"))
    assert len(zones) == 9 and ("cv0-thermal", 0.0) in zones
    assert read(zones_tree(tmp_path, zones)) == {
        "thermal:cpu-thermal": 46000, "thermal:gpu-thermal": 46700,
        "thermal:soc0-thermal": 46200, "thermal:soc1-thermal": 46300,
        "thermal:soc2-thermal": 44800, "thermal:tj-thermal": 47000,
    }


def test_agx_orin_jp6_audit_lists_no_gpu_zone(tmp_path: Path):
    zones = parse_zone_listing(fixture(
        "jetson/thermal_zones_and_tegrastats_agx_orin_64gb_jp6.2.1_audit_unresolved.txt"))
    values = read(zones_tree(tmp_path, zones))
    assert values == {"thermal:cpu-thermal": 52000, "thermal:soc0-thermal": 49000,
                      "thermal:soc1-thermal": 49000, "thermal:soc2-thermal": 48000,
                      "thermal:tj-thermal": 52000}


def test_nano_l4t_zone_names_are_the_sensor_ids_and_the_pmic_placeholder_is_dropped(
    tmp_path: Path,
):
    types = parse_zone_types(fixture("jetson/thermal_zone_types_nano_2gb_jp4.txt"))
    assert types == {0: "AO-therm", 1: "CPU-therm", 2: "GPU-therm", 3: "PLL-therm",
                     4: "PMIC-Die", 5: "thermal-fan-est"}
    for n, kind in types.items():
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/type", kind)
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/temp", "40000")  # not captured
    assert [z.sensor for z in find_zones(tmp_path)] == [
        "thermal:AO-therm", "thermal:CPU-therm", "thermal:GPU-therm", "thermal:PLL-therm",
        "thermal:thermal-fan-est"]


def test_nano_zones_without_a_captured_temperature_are_not_available(tmp_path: Path):
    for n, kind in parse_zone_types(fixture("jetson/thermal_zone_types_nano_2gb_jp4.txt")).items():
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/type", kind)
    assert ThermalSource.probe(SensorEnv(root=tmp_path)).status is SourceStatus.NOT_AVAILABLE


def test_mainline_kernel_zone_type_is_read_through_the_class_symlink(tmp_path: Path):
    files = parse_cat_transcript(fixture("jetson/thermal_zone0_type_nano_mainline_armbian.txt"))
    assert files == {"/sys/devices/virtual/thermal/thermal_zone0/type": "cpu-thermal"}
    write(tmp_path, "sys/devices/virtual/thermal/thermal_zone0/type", "cpu-thermal")
    write(tmp_path, "sys/devices/virtual/thermal/thermal_zone0/temp", "35780")  # Pi capture
    (tmp_path / "sys/class/thermal").mkdir(parents=True)
    (tmp_path / "sys/class/thermal/thermal_zone0").symlink_to(
        tmp_path / "sys/devices/virtual/thermal/thermal_zone0")
    assert read(tmp_path) == {"thermal:cpu-thermal": 35780}


def test_zones_sharing_a_type_are_told_apart_by_zone_number(tmp_path: Path):
    zones_tree(tmp_path, [("acpitz", 25.0), ("acpitz", 27.8)])
    assert read(tmp_path) == {"thermal:acpitz@zone0": 25000, "thermal:acpitz@zone1": 27800}


def test_jetson_offline_value_is_not_a_temperature(tmp_path: Path):
    zones_tree(tmp_path, [("gpu-thermal", -256.0), ("cpu-thermal", 46.0)])
    assert read(tmp_path) == {"thermal:cpu-thermal": 46000}


def test_a_zone_that_vanishes_is_a_problem_and_the_others_still_read(tmp_path: Path):
    zones_tree(tmp_path, [("cpu-thermal", 46.0), ("gpu-thermal", 46.7)])
    source = ThermalSource.open(SensorEnv(root=tmp_path))
    (tmp_path / "sys/class/thermal/thermal_zone1/temp").unlink()
    assert {r.sensor for r in source.read()} == {"thermal:cpu-thermal"}
    assert len(source.problems()) == 1


def test_when_every_zone_fails_the_read_raises_so_the_sampler_records_a_gap(tmp_path: Path):
    zones_tree(tmp_path, [("cpu-thermal", 46.0)])
    source = ThermalSource.open(SensorEnv(root=tmp_path))
    (tmp_path / "sys/class/thermal/thermal_zone0/temp").write_text("garbage\n")
    with pytest.raises(TelemetryError):
        source.read()


def test_no_thermal_zones_is_not_available(tmp_path: Path):
    info = ThermalSource.probe(SensorEnv(root=tmp_path))
    assert info.status is SourceStatus.NOT_AVAILABLE


@given(st.integers(min_value=-300_000, max_value=300_000))
def test_only_plausible_die_temperatures_pass(value: int):
    assert plausible_temp_mc(value) == (value != 0 and -40_000 < value <= 150_000)
