"""RAPL via powercap, against captured listings from real machines (fixtures/telemetry/x86)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.counters import EnergyCounter
from rigbench.agent.telemetry.rapl import (
    RaplSource,
    find_zones,
    total_members,
    wrap_period_s,
)
from rigbench.agent.telemetry.recorded import (
    mode_bits,
    parse_find_cat,
    parse_grep_dump,
    parse_ls_la,
    parse_powercap_info,
)
from rigbench.errors import TelemetryError
from tests.captures import parse_turbostat_rapl, rapl_units_from_msr
from tests.paths import TELEMETRY_FIXTURES

X86 = TELEMETRY_FIXTURES / "x86"
LAPTOP_RANGE_UJ = 262143328850  # max_energy_range_uj of the mangohud laptop
BASE = "sys/devices/virtual/powercap/intel-rapl"


def fixture(name: str) -> str:
    return (X86 / name).read_text(encoding="utf-8")


def write(root: Path, rel: str, value: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")


def laptop_tree(root: Path, prefix: str = "intel-rapl") -> None:
    """The mangohud laptop's zones from its powercap-info output, with class symlinks."""
    zones = parse_powercap_info(fixture("rapl_powercap_info_laptop_excerpt_mangohud1776.txt"))
    for zone_id, files in zones.items():
        parts = zone_id.split(":")
        rel = "/".join(f"{prefix}:{':'.join(parts[: i + 1])}" for i in range(len(parts)))
        for name, value in files.items():
            write(root, f"sys/devices/virtual/powercap/{prefix}/{rel}/{name}", value)
        link = root / f"sys/class/powercap/{prefix}:{zone_id}"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root / f"sys/devices/virtual/powercap/{prefix}/{rel}")


# --- capture formats ---------------------------------------------------------------------------


def test_powercap_info_zones_and_constraints_map_to_sysfs_file_names():
    zones = parse_powercap_info(fixture("rapl_powercap_info_laptop_excerpt_mangohud1776.txt"))
    assert zones["0"]["name"] == "package-0"
    assert zones["0"]["energy_uj"] == "26963529117"
    assert zones["0"]["max_energy_range_uj"] == str(LAPTOP_RANGE_UJ)
    assert zones["0"]["constraint_0_power_limit_uw"] == "200000000"
    assert zones["0"]["constraint_1_name"] == "short_term"
    assert zones["0:0"]["name"] == "core" and zones["0:0"]["energy_uj"] == "7980278886"
    assert zones["0:1"]["name"] == "uncore"


def test_haswell_grep_dump_has_a_dram_subzone_with_its_own_wrap_range():
    files = parse_grep_dump(fixture("rapl_haswell_i7-4770S_grep_excerpt_thermald45.txt"))
    dram = "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2"
    assert files[f"{dram}/name"] == "dram"
    assert files[f"{dram}/energy_uj"] == "2469474853"
    assert files[f"{dram}/max_energy_range_uj"] == "262143999938"
    assert files[f"{dram}/constraint_0_power_limit_uw"] == "3408250000"


def test_find_cat_dump_keeps_a_14_digit_counter_exact_and_marks_failed_reads():
    files = parse_find_cat(fixture("rapl_find_cat_excerpt_powertelemetry3.txt"))
    zone = "/sys/devices/virtual/powercap/intel-rapl/intel-rapl:1"
    assert int(files[f"{zone}/energy_uj"] or "") == 60293987000000
    assert files[f"{zone}/enabled"] == "0"
    assert files[f"{zone}/constraint_1_max_power_uw"] is None  # "No data available"


def test_ls_listing_shows_limits_writable_by_root_and_the_rest_world_readable():
    listing = parse_ls_la(fixture("rapl_ls_permissions_excerpt_thermald401.txt"))
    zone = listing["/sys/class/powercap/intel-rapl/intel-rapl:0"]
    assert mode_bits(zone["constraint_0_power_limit_uw"]) == 0o644
    assert mode_bits(zone["constraint_2_max_power_uw"]) == 0o444
    assert {"intel-rapl:0", "intel-rapl:1"} <= set(listing[""])


def test_amd_rapl_unit_msr_gives_turbostats_234_second_wrap_at_280_watts():
    text = fixture("turbostat_amd_family1a_rapl_units_excerpt_energymon53.txt")
    info = parse_turbostat_rapl(text)
    assert info.unit_msr == 0x000A1000
    assert (info.counter_range_s, info.at_watts) == (234, 280)
    units = rapl_units_from_msr(info.unit_msr)
    assert units.energy_j == pytest.approx(15.3e-6, rel=0.01)  # "0.000015 Joules"
    assert units.time_s == pytest.approx(0.000977, rel=0.001)
    assert int(units.counter_range_j() / info.at_watts) == 234


# --- zones -------------------------------------------------------------------------------------


def test_laptop_zones_are_named_by_their_name_file_and_deduplicated(tmp_path: Path):
    laptop_tree(tmp_path)
    zones = find_zones(tmp_path)
    assert [z.sensor for z in zones] == ["rapl:package-0", "rapl:package-0/core",
                                         "rapl:package-0/uncore"]


def test_core_and_uncore_are_inside_the_package_so_the_total_is_the_package(tmp_path: Path):
    laptop_tree(tmp_path)
    assert [z.sensor for z in total_members(find_zones(tmp_path))] == ["rapl:package-0"]


def test_psys_when_present_is_the_total_and_dram_counts_only_without_it(tmp_path: Path):
    # Zone ids and names as drawn in powercap issue #3 (i7-8550U)
    drawing = fixture("rapl_zone_layout_i7-8550U_powercap3.txt")
    drawn = re.findall(r"(intel-rapl:[\d:]+) (\w+)", drawing)
    assert drawn[-1] == ("intel-rapl:1", "psys")
    for zone_id, name in drawn:
        parent = zone_id.rsplit(":", 1)[0] if zone_id.count(":") == 2 else None
        rel = f"{parent}/{zone_id}" if parent else zone_id
        write(tmp_path, f"{BASE}/{rel}/name", {"cores": "core", "DRAM": "dram",
                                               "package": "package-0"}.get(name, name))
        write(tmp_path, f"{BASE}/{rel}/energy_uj", "0")
    (tmp_path / "sys/class/powercap").mkdir(parents=True)
    (tmp_path / "sys/class/powercap/intel-rapl").symlink_to(tmp_path / BASE)
    zones = find_zones(tmp_path)
    assert [z.sensor for z in total_members(zones)] == ["rapl:psys"]
    without_psys = [z for z in zones if z.name != "psys"]
    assert [z.sensor for z in total_members(without_psys)] == ["rapl:package-0",
                                                               "rapl:package-0/dram"]


def test_mmio_duplicates_of_a_zone_are_read_once_preferring_mmio(tmp_path: Path):
    laptop_tree(tmp_path)
    laptop_tree(tmp_path, prefix="intel-rapl-mmio")
    zones = find_zones(tmp_path)
    assert len(zones) == 3
    assert all(z.mmio for z in zones if z.top_level)


def test_the_haswell_dram_zone_is_found_under_an_excerpted_parent(tmp_path: Path):
    for path, value in parse_grep_dump(
        fixture("rapl_haswell_i7-4770S_grep_excerpt_thermald45.txt")
    ).items():
        write(tmp_path, path, value)
    zones = find_zones(tmp_path)
    # intel-rapl:0:1 has no name/energy in the excerpt; the package's own name was cut off
    assert [z.sensor for z in zones] == ["rapl:intel-rapl:0/dram"]


# --- reading -----------------------------------------------------------------------------------


def test_energy_is_reported_as_growth_since_open(tmp_path: Path):
    laptop_tree(tmp_path)
    source = RaplSource.open(SensorEnv(root=tmp_path))
    write(tmp_path, f"{BASE}/intel-rapl:0/energy_uj", str(26963529117 + 1_500_000))
    values = {r.sensor: r.value for r in source.read()}
    assert values["rapl:package-0"] == 1_500_000
    assert values["rapl:package-0/core"] == 0
    assert values["rapl:total"] == 1_500_000


def test_a_counter_that_wrapped_is_unwrapped_with_max_energy_range(tmp_path: Path):
    laptop_tree(tmp_path)
    source = RaplSource.open(SensorEnv(root=tmp_path))
    write(tmp_path, f"{BASE}/intel-rapl:0/energy_uj", "1000")  # wrapped past 262143328850
    values = {r.sensor: r.value for r in source.read()}
    assert values["rapl:package-0"] == LAPTOP_RANGE_UJ - 26963529117 + 1000


def test_a_vanished_subzone_is_a_problem_and_the_total_still_reads(tmp_path: Path):
    laptop_tree(tmp_path)
    source = RaplSource.open(SensorEnv(root=tmp_path))
    (tmp_path / BASE / "intel-rapl:0/intel-rapl:0:1/energy_uj").unlink()
    readings = {r.sensor for r in source.read()}
    assert "rapl:package-0/uncore" not in readings and "rapl:total" in readings
    assert len(source.problems()) == 1


def test_probe_reports_update_period_and_what_the_total_covers(tmp_path: Path):
    laptop_tree(tmp_path)
    info = RaplSource.probe(SensorEnv(root=tmp_path))
    assert info.status is SourceStatus.AVAILABLE
    assert info.update_period_s == 0.001
    assert "rapl:total = package-0" in info.detail
    assert "wraps after 257 min at 17 W" in info.detail  # 262143 J at max_power_uw 17000000
    assert "rapl:total" in info.sensors


def test_no_powercap_tree_is_not_available_as_on_the_new_amd_of_energymon_53(tmp_path: Path):
    text = fixture("turbostat_amd_family1a_rapl_units_excerpt_energymon53.txt")
    assert "No RAPL zones found!" in text
    assert RaplSource.probe(SensorEnv(root=tmp_path)).status is SourceStatus.NOT_AVAILABLE


def test_the_laptop_counter_wraps_in_hours_at_its_17_watt_max_power():
    period = wrap_period_s(LAPTOP_RANGE_UJ, 17000000 / 1e6)  # constraint_0_max_power_uw
    assert period is not None and 4.2 * 3600 < period < 4.3 * 3600


# --- permissions -------------------------------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir other users can traverse (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="rigbench-rapl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _probe_without_root(root: Path) -> tuple[str, str]:
    """Probe as an unprivileged user: this process if it is one, else a child as nobody."""
    if os.geteuid() != 0:
        info = RaplSource.probe(SensorEnv(root=root))
        return info.status.value, info.detail
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            info = RaplSource.probe(SensorEnv(root=root))
            os.write(write_end, json.dumps([info.status.value, info.detail]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    status, detail = json.loads(data)
    return status, detail


def test_root_only_energy_uj_needs_permission_and_the_detail_gives_the_fix(shared_tmp: Path):
    laptop_tree(shared_tmp)
    for d in [shared_tmp, *shared_tmp.rglob("*")]:
        if d.is_dir() and not d.is_symlink():
            d.chmod(0o755)
    for energy in shared_tmp.rglob("energy_uj"):
        energy.chmod(0o400 if os.geteuid() == 0 else 0o000)  # 0400 root, since CVE-2020-8694
    status, detail = _probe_without_root(shared_tmp)
    assert status == SourceStatus.NEEDS_PERMISSION.value
    assert "chmod a+r" in detail and "udev" in detail


# --- the counter -------------------------------------------------------------------------------


@given(
    start=st.integers(0, LAPTOP_RANGE_UJ - 1),
    steps=st.lists(st.integers(0, LAPTOP_RANGE_UJ - 1), max_size=50),
)
def test_unwrapped_energy_equals_the_true_energy_when_sampled_faster_than_a_wrap(
    start: int, steps: list[int]
):
    counter = EnergyCounter(start, LAPTOP_RANGE_UJ)
    true_total = 0
    for step in steps:
        true_total += step
        assert counter.update((start + true_total) % LAPTOP_RANGE_UJ) == true_total


def test_a_counter_going_backwards_without_a_known_range_is_an_error_then_recovers():
    counter = EnergyCounter(500, None)
    assert counter.update(800) == 300
    with pytest.raises(TelemetryError):
        counter.update(100)  # e.g. an NVIDIA driver reload reset the counter
    assert counter.update(150) == 350
