"""hwmon temperatures and power, and lm-sensors text, against captures (fixtures/telemetry/x86)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.hwmon import HwmonSource, parse_sensors, scan_chips
from rigbench.agent.telemetry.recorded import hwmon_files_from_sensors
from rigbench.errors import TelemetryError
from tests.paths import TELEMETRY_FIXTURES

X86 = TELEMETRY_FIXTURES / "x86"


def fixture(name: str) -> str:
    return (X86 / name).read_text(encoding="utf-8")


def tree_from(tmp_path: Path, *names: str, extra: dict[str, str] | None = None) -> Path:
    """A sysfs root holding the hwmon chips that `sensors` printed in the named captures."""
    files: dict[str, str] = {}
    for name in names:
        offset = len([k for k in files if k.endswith("/name")])
        for rel, value in hwmon_files_from_sensors(fixture(name)).items():
            index = int(rel.split("/")[3].removeprefix("hwmon")) + offset
            files["/".join(rel.split("/")[:3] + [f"hwmon{index}"] + rel.split("/")[4:])] = value
    files.update(extra or {})
    for rel, value in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n", encoding="utf-8")
    return tmp_path


def read(root: Path) -> dict[str, float]:
    return {r.sensor: r.value for r in HwmonSource.open(SensorEnv(root=root)).read()}


# --- lm-sensors text ---------------------------------------------------------------------------


def test_sensors_output_gives_chips_by_driver_and_labelled_values():
    chips = parse_sensors(fixture("sensors_coretemp_intel_dasharo181.txt"))
    assert [c.driver for c in chips] == ["acpitz", "coretemp"]
    core = {v.label: v.value for v in chips[1].values}
    assert core == {"Package id 0": 42.0, "Core 0": 38.0, "Core 1": 40.0, "Core 2": 42.0,
                    "Core 3": 40.0}
    assert chips[1].adapter == "ISA adapter"


def test_sensors_limit_continuation_lines_are_not_values():
    chips = parse_sensors(fixture("sensors_k10temp_ryzen7_2700x_kernel416_corefreq54.txt"))
    assert {c.driver: [(v.label, v.value, v.unit) for v in c.values] for c in chips} == {
        "asus": [("cpu_fan", 0.0, "RPM")],
        "nouveau": [("temp1", 44.0, "°C")],
        "k10temp": [("temp1", 52.0, "°C")],
    }


def test_sensors_na_is_a_missing_value_not_zero():
    chips = parse_sensors(fixture("sensors_k10temp_fam15h_relative_scale_lmsensors264.txt"))
    power = chips[0]
    assert (power.driver, power.values[0].label, power.values[0].value) == (
        "fam15h_power", "power1", None)
    assert chips[2].values[0].value == 11.1


def test_sensors_u_gives_the_sysfs_name_of_each_value():
    chip = parse_sensors(fixture("sensors_u_k10temp_tctl_tdie_lmsensors339.txt"))[0]
    assert [(v.label, v.sysfs, v.value) for v in chip.values] == [
        ("Tctl", "temp1", 26.5), ("Tdie", "temp2", 26.5)]


def test_a_label_set_in_sensors_conf_is_read_as_printed():
    chip = parse_sensors(fixture("sensors_k10temp_ryzen7_3700x_custom_label_lmsensors339.txt"))[0]
    assert [v.label for v in chip.values] == ["CPU Primary T Control", "Tdie", "Tccd1"]
    assert chip.values[2].value == 37.8


# --- the source on trees built from those captures ---------------------------------------------


def test_coretemp_package_and_cores_in_millidegrees(tmp_path: Path):
    values = read(tree_from(tmp_path, "sensors_coretemp_intel_dasharo181.txt"))
    assert values["hwmon:coretemp:Package id 0"] == 42000
    assert values["hwmon:coretemp:Core 3"] == 40000
    assert values["hwmon:acpitz:temp2"] == 29800


def test_k10temp_tctl_is_skipped_when_tdie_exists(tmp_path: Path):
    values = read(tree_from(tmp_path, "sensors_u_k10temp_tctl_tdie_lmsensors339.txt"))
    assert values == {"hwmon:k10temp:Tdie": 26500}


def test_k10temp_relabelled_tctl_is_still_skipped_because_it_is_temp1(tmp_path: Path):
    values = read(tree_from(tmp_path, "sensors_k10temp_ryzen7_3700x_custom_label_lmsensors339.txt"))
    assert values == {"hwmon:k10temp:Tdie": 38000, "hwmon:k10temp:Tccd1": 37800}


def test_k10temp_with_only_tctl_reports_tctl(tmp_path: Path):
    values = read(tree_from(tmp_path, "sensors_k10temp_tctl_only_htop1878.txt"))
    assert values == {"hwmon:k10temp:Tctl": 39100}


def test_old_unlabelled_k10temp_and_a_gpu_chip_are_both_read(tmp_path: Path):
    values = read(tree_from(tmp_path, "sensors_k10temp_ryzen7_2700x_kernel416_corefreq54.txt"))
    assert values == {"hwmon:nouveau:temp1": 44000, "hwmon:k10temp:temp1": 52000}


def test_family_15h_k10temp_is_a_relative_scale_and_not_reported(tmp_path: Path):
    root = tree_from(
        tmp_path, "sensors_k10temp_fam15h_relative_scale_lmsensors264.txt",
        extra={"proc/cpuinfo": "vendor_id\t: AuthenticAMD\ncpu family\t: 21"},
    )
    values = read(root)
    assert values == {"hwmon:radeon:temp1": 11000}
    assert any("relative scale" in n for n in scan_chips(root).notes)


def test_the_fam15h_power_chip_with_na_power_offers_no_power_channel(tmp_path: Path):
    root = tree_from(tmp_path, "sensors_k10temp_fam15h_relative_scale_lmsensors264.txt")
    assert not [c for c in scan_chips(root).channels if c.metric == "power_mw"]


def test_power_input_microwatts_become_milliwatts(tmp_path: Path):
    # The capture's power1 limit ("crit = 65.19 W") is the only number it gives for this chip.
    root = tree_from(tmp_path, extra={"sys/class/hwmon/hwmon0/name": "fam15h_power",
                                       "sys/class/hwmon/hwmon0/power1_input": "65190000"})
    assert read(root) == {"hwmon:fam15h_power:power1": pytest.approx(65190.0)}


def test_ina3221_chips_are_left_to_the_jetson_backend(tmp_path: Path):
    root = tree_from(tmp_path, extra={"sys/class/hwmon/hwmon0/name": "ina3221",
                                       "sys/class/hwmon/hwmon0/in1_input": "5000"})
    assert HwmonSource.probe(SensorEnv(root=root)).status is SourceStatus.NOT_AVAILABLE


def test_two_chips_with_the_same_name_get_distinct_sensor_ids(tmp_path: Path):
    root = tree_from(tmp_path, "sensors_coretemp_intel_dasharo181.txt",
                     "sensors_coretemp_intel_dasharo181.txt")
    values = read(root)
    assert values["hwmon:coretemp:Core 0"] == values["hwmon:coretemp#1:Core 0"] == 38000


def test_a_vanished_channel_is_a_problem_and_the_rest_still_read(tmp_path: Path):
    root = tree_from(tmp_path, "sensors_coretemp_intel_dasharo181.txt")
    source = HwmonSource.open(SensorEnv(root=root))
    (root / "sys/class/hwmon/hwmon1/temp2_input").unlink()  # Core 0
    values = {r.sensor for r in source.read()}
    assert "hwmon:coretemp:Core 0" not in values and "hwmon:coretemp:Core 1" in values
    assert len(source.problems()) == 1


def test_garbage_in_a_channel_is_a_problem_not_a_reading(tmp_path: Path):
    root = tree_from(tmp_path, "sensors_k10temp_tctl_only_htop1878.txt")
    source = HwmonSource.open(SensorEnv(root=root))
    (root / "sys/class/hwmon/hwmon0/temp1_input").write_text("Tctl\n")
    with pytest.raises(TelemetryError, match="expected an integer"):
        source.read()
