"""Intel thermal_throttle counters against captured values (fixtures/telemetry/x86)."""

from __future__ import annotations

from pathlib import Path

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.recorded import parse_cat_transcript, parse_ls_then_cat_star
from rigbench.agent.telemetry.x86_throttle import X86ThrottleSource, parse_trm_interrupts
from tests.paths import TELEMETRY_FIXTURES

X86 = TELEMETRY_FIXTURES / "x86"
CPU0 = "sys/devices/system/cpu/cpu0/thermal_throttle"
XEON = "thermal_throttle_xeon_e5-2430_kernel3.2_collectd2397.txt"


def fixture(name: str) -> str:
    return (X86 / name).read_text(encoding="utf-8")


def write(root: Path, rel: str, value: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")


def xeon_tree(root: Path) -> dict[str, str]:
    files = parse_cat_transcript(fixture(XEON))
    for path, value in files.items():
        write(root, path, value)
    return files


def test_xeon_capture_has_power_limit_events_and_no_thermal_throttling(tmp_path: Path):
    files = xeon_tree(tmp_path)
    assert {Path(p).name: v for p, v in files.items()} == {
        "core_power_limit_count": "8", "core_throttle_count": "0",
        "package_power_limit_count": "8", "package_throttle_count": "0"}


def test_counts_are_reported_as_growth_since_open_not_since_boot(tmp_path: Path):
    xeon_tree(tmp_path)
    source = X86ThrottleSource.open(SensorEnv(root=tmp_path))
    values = {r.sensor: r.value for r in source.read()}
    assert values == {"x86_throttle:core_throttle": 0, "x86_throttle:package_throttle": 0,
                      "x86_throttle:core_power_limit": 0, "x86_throttle:package_power_limit": 0}
    write(tmp_path, f"{CPU0}/core_power_limit_count", "10")  # two notifications during the run
    values = {r.sensor: r.value for r in source.read()}
    assert values["x86_throttle:core_power_limit"] == 2


def test_package_counters_are_read_once_per_package(tmp_path: Path):
    xeon_tree(tmp_path)
    for cpu in ("cpu0", "cpu1"):
        write(tmp_path, f"sys/devices/system/cpu/{cpu}/topology/physical_package_id", "0")
        for name, value in (("package_throttle_count", "0"), ("core_throttle_count", "0")):
            write(tmp_path, f"sys/devices/system/cpu/{cpu}/thermal_throttle/{name}", value)
    source = X86ThrottleSource.open(SensorEnv(root=tmp_path))
    for cpu in ("cpu0", "cpu1"):  # one package event, repeated in every CPU of the package
        write(tmp_path, f"sys/devices/system/cpu/{cpu}/thermal_throttle/package_throttle_count",
              "1")
    values = {r.sensor: r.value for r in source.read()}
    assert values["x86_throttle:package_throttle"] == 1


def test_core_counters_are_summed_over_logical_cpus(tmp_path: Path):
    xeon_tree(tmp_path)
    write(tmp_path, "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "0")
    source = X86ThrottleSource.open(SensorEnv(root=tmp_path))
    write(tmp_path, f"{CPU0}/core_throttle_count", "3")
    write(tmp_path, "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "1")
    assert {r.sensor: r.value for r in source.read()}["x86_throttle:core_throttle"] == 4


def test_krun_machine_without_power_limit_counters_and_its_trm_line(tmp_path: Path):
    text = fixture("thermal_throttle_zero_and_trm_interrupts_krun349.txt")
    files = parse_ls_then_cat_star(text)
    assert files == {"core_throttle_count": "0", "package_throttle_count": "0"}
    assert parse_trm_interrupts(text) == 0
    for name, value in files.items():
        write(tmp_path, f"{CPU0}/{name}", value)
    write(tmp_path, "proc/interrupts", next(ln for ln in text.splitlines() if "TRM:" in ln))
    info = X86ThrottleSource.probe(SensorEnv(root=tmp_path))
    assert info.status is SourceStatus.AVAILABLE
    assert info.sensors == ("x86_throttle:core_throttle", "x86_throttle:package_throttle")
    assert "0 thermal event interrupts" in info.detail


def test_trm_line_sums_every_cpu_column():
    line = "TRM:          3          0          5   Thermal event interrupts"
    assert parse_trm_interrupts(line) == 8
    assert parse_trm_interrupts("NMI: 0 0 Non-maskable interrupts") is None


def test_a_counter_that_vanishes_drops_that_sum_rather_than_undercounting(tmp_path: Path):
    xeon_tree(tmp_path)
    source = X86ThrottleSource.open(SensorEnv(root=tmp_path))
    (tmp_path / CPU0 / "core_throttle_count").unlink()
    values = {r.sensor for r in source.read()}
    assert "x86_throttle:core_throttle" not in values
    assert "x86_throttle:package_throttle" in values
    assert len(source.problems()) == 1


def test_no_counters_is_not_available(tmp_path: Path):
    assert X86ThrottleSource.probe(SensorEnv(root=tmp_path)).status is SourceStatus.NOT_AVAILABLE
