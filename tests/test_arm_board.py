"""An aarch64 board in the test farm: the agent installed over SSH into an emulated Raspberry Pi.

``tools/emulated_board.py`` builds (once, then cached under ``.rigbench/emulated-board/``) a
Debian bookworm arm64 rootfs and runs sshd in it under qemu-user with the Raspberry Pi 5's
CPU pinned (cortex-a76) and a matching /proc/cpuinfo. Against it, as against a board on the
network: ``rigbench agent install`` with an offline wheelhouse of aarch64 wheels, status,
devices, a plan over the SSH tunnel with both runtimes and accuracy, the same board as a
"virtual Pi 5" replaying the Pi's recorded sensors, upgrade, uninstall.

Run by ``make test-arm`` (which sets RIGBENCH_TEST_ARM=1; CI runs it after ``make test``);
skipped with a one-line reason where this machine cannot emulate (no root, no binfmt_misc,
no mount namespaces). The board is slow (100-1000x a real one) and nothing here asserts a
speed: behaviour, labels and accuracy only. Tests run in file order and share one board and
one install.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner, Result

from rigbench.controller.cli import app
from rigbench.controller.inventory import load_inventory
from rigbench.controller.ssh.session import SshSession
from rigbench.controller.ssh.wheels import build_wheel, build_wheelhouse
from tests.builders.wheels import rebuilt
from tools import emulated_board as eb

if os.environ.get("RIGBENCH_TEST_ARM") != "1":  # one line in `make test`, not one per test
    pytest.skip("the emulated arm64 board runs with `make test-arm`", allow_module_level=True)
pytestmark = [pytest.mark.arm, pytest.mark.e2e, pytest.mark.slow]

WORK = eb.CACHE / "work"  # the controller's wheel builds and aarch64 wheelhouse, kept
DEVICE = "pi5-emu"
BOOKWORM = {"python_short": "3.11", "libc": "glibc", "libc_version": "2.36", "arch": "aarch64"}

PLAN = """
name: arm-smoke
models:
  - name: cnn
    generate: {size: tiny, seed: 0}
    variants: [fp32, int8-dynamic, tflite-fp32, tflite-int8-dynamic]
    accuracy: {samples: 4, tolerance: {max_abs_err: 0.5, cosine_min: 0.99}}
runtimes:
  - {name: ort-cpu, runtime: onnxruntime, providers: [cpu], threads: 1}
  - {name: litert-xnnpack, runtime: litert, providers: [xnnpack], threads: 1}
measurement: {warmup_iterations: 1, min_iterations: 5, min_duration_s: 0, max_duration_s: 10}
telemetry: {enabled: false}
"""

# vcgencmd is polled every 0.5 s at most: energy needs a window of several updates.
PI5_PLAN = """
name: virtual-pi5
models:
  - name: cnn
    generate: {size: tiny, seed: 0}
    variants: [fp32]
    accuracy: {samples: 0}
runtimes:
  - {name: ort-cpu, runtime: onnxruntime, providers: [cpu], threads: 1}
measurement: {warmup_iterations: 1, min_iterations: 5, min_duration_s: 3, max_duration_s: 20}
telemetry: {rate_hz: 10, idle_baseline_s: 0}
"""


@dataclass
class Farm:
    board: eb.Board
    folder: Path
    inventory: Path
    known_hosts: Path

    @property
    def install_dir(self) -> Path:  # the agent's folder, seen from outside the chroot
        return self.board.root / "home" / eb.USER / "rigbench-agent"

    def cli(self, *args: str, inventory: Path | None = None) -> Result:
        argv = [*args, "-i", str(inventory or self.inventory)]
        return CliRunner().invoke(app, argv, catch_exceptions=False)

    def write_inventory(self, path: Path, **ssh: str) -> Path:
        base = {"known_hosts": str(self.known_hosts), **ssh}
        path.write_text(self.board.inventory(DEVICE, base))
        return path

    def session(self) -> SshSession:
        return SshSession.open(load_inventory(self.inventory).get(DEVICE))

    def state(self) -> dict[str, Any]:
        return json.loads((self.install_dir / "state.json").read_text())

    def pid(self, name: str) -> int | None:
        p = self.install_dir / f"{name}.pid"
        return int(p.read_text()) if p.exists() and p.read_text().strip() else None


def _prewarm_wheelhouse() -> None:
    """The aarch64 wheels for bookworm's Python, fetched while debootstrap runs (cold CI).

    ``agent install`` finds them in the same cache; were the board's Python to differ, it
    would download its own, only slower.
    """
    wheel = build_wheel(WORK / "ssh" / "dist")
    key = f"cp311-{BOOKWORM['libc']}{BOOKWORM['libc_version']}-{BOOKWORM['arch']}"
    build_wheelhouse(
        wheel,
        platform_key=key,
        extras=["onnxruntime", "litert"],
        cache=WORK / "ssh" / "wheelhouse",
        say=lambda m: None,
        **BOOKWORM,
    )


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    problem = eb.support_problem()
    if problem:
        pytest.skip(f"cannot emulate an arm64 board here: {problem}")
    with ThreadPoolExecutor(2) as pool:
        tarball = pool.submit(eb.build_rootfs)
        wheels = pool.submit(_prewarm_wheelhouse)
        path = tarball.result()
        wheels.result()
    folder = tmp_path_factory.mktemp("arm-farm")
    board = eb.Board(folder / "board")
    try:
        board.start(path)
        kh = folder / "known_hosts"  # empty: the first install records the key (TOFU)
        kh.write_text("")
        f = Farm(board, folder, folder / "inventory.yaml", kh)
        f.write_inventory(f.inventory)
        yield f
    finally:
        namespace = board.namespace
        board.stop()
        # Everything the board started (sshd, supervisor, agent, workers) is gone with it.
        assert not eb.namespace_pids(namespace)
        assert not eb.mounts_under(folder)
        board.remove()


@pytest.fixture(scope="module")
def installed(farm: Farm) -> Result:
    r = farm.cli(
        "agent", "install", DEVICE, "--work", str(WORK), "--index", "offline",
        "--trust-on-first-use", "--timeout", "300",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return r


# --- the board itself -------------------------------------------------------------------------
def test_the_board_runs_aarch64_on_the_pinned_cpu_with_a_matching_cpuinfo(farm):
    """QEMU_CPU reaches SSH sessions, and /proc/cpuinfo describes exactly that CPU."""
    with SshSession.open(load_inventory(farm.inventory).get(DEVICE), trust_on_first_use=True) as s:
        uname = s.run("uname -m; echo $QEMU_CPU", what="uname").stdout.split()
        # python3 itself reads its auxv: what qemu gives a process under this QEMU_CPU.
        dump = "import sys; sys.stdout.buffer.write(open('/proc/self/auxv', 'rb').read())"
        auxv = s.run(f'python3 -c "{dump}" | od -An -v -tx1', what="auxv").stdout
        cpuinfo = s.run("cat /proc/cpuinfo", what="cpuinfo").stdout
    assert uname == ["aarch64", "cortex-a76"]
    v = eb.parse_auxv(bytes.fromhex("".join(auxv.split())))
    features = eb.hwcap_names(v[eb.AT_HWCAP], v.get(eb.AT_HWCAP2, 0))
    blocks = [b for b in cpuinfo.split("\n\n") if b.startswith("processor")]
    assert len(blocks) == (os.cpu_count() or 1)
    for b in blocks:
        fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in b.splitlines())}
        assert fields["Features"].split() == features
        assert (fields["CPU implementer"], fields["CPU part"]) == ("0x41", "0xd0b")  # Cortex-A76
    assert "asimddp" in features and "sve" not in features  # an A76, not qemu's `max`
    assert farm.known_hosts.read_text().strip()  # the host key was recorded (TOFU)


def test_a_locked_account_gets_one_line_saying_what_to_fix(farm, tmp_path):
    inv = farm.write_inventory(tmp_path / "inventory.yaml", user=eb.LOCKED_USER)
    r = farm.cli("agent", "status", DEVICE, inventory=inv)
    assert r.exit_code == 2, r.output
    (failed,) = [ln for ln in r.output.splitlines() if "FAILED" in ln and DEVICE in ln]
    assert f"usermod -p '*' {eb.LOCKED_USER}" in failed and "authorized_keys" in failed
    assert "Traceback" not in r.output


# --- install ----------------------------------------------------------------------------------
def test_install_ships_an_aarch64_wheelhouse_and_the_agent_serves(farm, installed):
    lines = step_lines_of(installed.output)
    expect = [
        "host key ssh-ed25519 SHA256:",
        " aarch64, Python 3.11",
        "index: offline (as asked)",
        "wheelhouse: shipped",
        "pip: agent dependencies installed, runtimes onnxruntime, litert",
        "service: supervisor started",
        "health: serving after",
    ]
    for e in expect:
        assert any(e in ln for ln in lines), f"no line with {e!r} in:\n{installed.output}"
    shipped = [p.name for p in (farm.install_dir / "wheelhouse").glob("*.whl")]
    assert shipped and all(n.endswith(("_aarch64.whl", "-none-any.whl")) for n in shipped)
    assert any(n.startswith("onnxruntime-") for n in shipped)
    st = farm.state()
    assert st["platform"] == "cp311-glibc2.36-aarch64" and st["offline"] is True
    assert st["extras_installed"] == ["onnxruntime", "litert"]


def test_install_output_is_clean(installed):
    """No paramiko channel noise while waiting for the health check, and no traceback."""
    assert "Secsh channel" not in installed.output and "open FAILED" not in installed.output
    assert "Traceback" not in installed.output


def test_install_again_changes_nothing(farm, installed):
    agent = farm.pid("agent")
    r = farm.cli("agent", "install", DEVICE, "--work", str(WORK), "--index", "offline")
    assert r.exit_code == 0, r.output
    lines = step_lines_of(r.output)
    for e in ("folder:", "venv:", "package:", "service: supervisor"):
        assert any(ln.startswith(e) and "skipped" in ln for ln in lines), r.output
    assert farm.pid("agent") == agent


def test_status_reports_build_service_and_health(farm, installed):
    r = farm.cli("agent", "status", DEVICE)
    assert r.exit_code == 0, r.output
    assert f"build {farm.state()['build_id']}" in r.output and "health: serving" in r.output


def test_devices_reports_aarch64_both_runtimes_and_the_emulation(farm, installed):
    r = farm.cli("devices", "--format", "json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    desc = row["description"]
    assert desc["arch"] == "aarch64"
    assert {rt["name"] for rt in desc["runtimes"]} == {"onnxruntime", "litert"}
    emu = desc["emulation"]
    assert (emu["emulator"], emu["cpu_model"], emu["host_arch"]) == (
        "qemu-user",
        "cortex-a76",
        os.uname().machine,
    )
    assert "qemu" in emu["interpreter"]
    table = farm.cli("devices")
    assert "emulated: qemu-user on" in table.output and "not a real" in table.output


# --- a plan through the tunnel ----------------------------------------------------------------
@pytest.fixture(scope="module")
def plan_run(farm: Farm, installed: Result, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("arm-plan")
    (folder / "plan.yaml").write_text(PLAN)
    store = folder / "store.duckdb"
    r = farm.cli(
        "run", str(folder / "plan.yaml"), "--store", str(store), "--work", str(folder / "w"),
        "--quiet",
    )  # fmt: skip
    return r, store


def query(store: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_plan_with_both_runtimes_is_accurate_on_aarch64(plan_run):
    r, store = plan_run
    assert r.exit_code == 0, r.output
    rows = query(
        store,
        "SELECT r.variant, r.runtime_name, r.providers_used, a.max_abs_err, "
        "a.cosine_similarity, a.within_tolerance FROM results r JOIN accuracy a "
        "ON a.job_id = r.job_id AND a.output = '*' ORDER BY r.variant",
    )
    assert [(v, rt) for v, rt, *_ in rows] == [
        ("fp32", "ort-cpu"),
        ("int8-dynamic", "ort-cpu"),
        ("tflite-fp32", "litert-xnnpack"),
        ("tflite-int8-dynamic", "litert-xnnpack"),
    ]
    for variant, _, providers, err, cosine, ok in rows:
        assert ok is True, (variant, err, cosine)
        assert providers  # the runtime said which provider/delegate ran it
    errors = {v: (err, cos) for v, _, _, err, cos, _ in rows}
    assert errors["fp32"][0] < 1e-4 and errors["tflite-fp32"][0] < 1e-4
    # Under qemu's default `max` CPU this was 2.08 / 0.785; on the pinned Cortex-A76 it
    # matches x86 (0.058 / 1.000).
    assert errors["int8-dynamic"][0] < 0.5 and errors["int8-dynamic"][1] > 0.99


def test_every_result_from_the_board_is_labelled_emulated(plan_run):
    r, store = plan_run
    assert {e for (e,) in query(store, "SELECT emulated FROM results")} == {True}
    (dev,) = query(store, "SELECT emulated, description_json FROM devices")
    assert dev[0] is True and json.loads(dev[1])["emulation"]["cpu_model"] == "cortex-a76"
    # The compact results table names a device every row shares once, in its title.
    (title,) = [ln for ln in r.output.splitlines() if "4 result(s)" in ln]
    assert f" on {DEVICE} (emulated)" in title
    assert not [ln for ln in r.output.splitlines() if ln.startswith(f"{DEVICE} ")]
    assert "the emulator's, not a real device's" in r.output


def test_rank_and_fleet_refuse_to_price_it_unless_told(farm, plan_run):
    _, store = plan_run
    s = ("--store", str(store))
    refused = CliRunner().invoke(app, ["rank", *s])
    assert refused.exit_code == 1, refused.output
    assert "emulated" in refused.output and "--allow-emulated" in refused.output
    allowed = CliRunner().invoke(app, ["rank", *s, "--allow-emulated", "--format", "json"])
    assert allowed.exit_code == 0, allowed.output
    ranking = json.loads(allowed.output)
    assert len(ranking["ranked"]) == 4 and all(c["emulated"] for c in ranking["ranked"])
    assert any("emulator's, not a real device's" in n for n in ranking["notes"])
    fleet = CliRunner().invoke(app, ["fleet", *s, "--qps", "10", "--latency-ms", "1000"])
    assert fleet.exit_code == 1 and "--allow-emulated" in fleet.output
    report = CliRunner().invoke(app, ["report", *s, "--markdown", "--allow-emulated"])
    assert report.exit_code == 0 and f"{DEVICE} (emulated)" in report.output


# --- a virtual Raspberry Pi 5 -----------------------------------------------------------------
def test_a_virtual_pi5_runs_the_pis_sensor_paths_on_aarch64(farm, installed, tmp_path):
    """The Pi 5's recorded vcgencmd answers on the board: throttling, PMIC power, clock."""
    where = farm.board.add_recording("rpi5")
    inv = farm.write_inventory(tmp_path / "pi5.yaml", telemetry_root=where, simulated="true")
    before = farm.pid("agent")
    r = farm.cli("agent", "install", DEVICE, "--work", str(WORK), inventory=inv)
    assert r.exit_code == 0, r.output
    assert "supervisor script" in r.output and "written" in r.output
    assert farm.pid("agent") != before
    (tmp_path / "plan.yaml").write_text(PI5_PLAN)
    store = tmp_path / "store.duckdb"
    run = farm.cli(
        "run", str(tmp_path / "plan.yaml"), "--store", str(store), "--work", str(tmp_path / "w"),
        "--quiet", inventory=inv,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    ((power_mw, throttled, simulated, emulated, tel),) = query(
        store, "SELECT avg_power_mw, throttled, simulated, emulated, telemetry_json FROM results"
    )
    assert power_mw is not None and power_mw > 0  # PMIC rails, replayed
    assert throttled is not None  # get_throttled was read and decoded
    assert simulated is True and emulated is True and json.loads(tel)["simulated"] is True
    metrics = {
        m for (m,) in query(store, "SELECT DISTINCT sensor || '/' || metric FROM telemetry_samples")
    }
    assert {"rpi:soc/temp_mc", "rpi:arm/clock_khz"} <= metrics
    assert any(m.startswith("rpi:pmic:") and m.endswith("/power_mw") for m in metrics)
    (desc,) = query(store, "SELECT description_json FROM devices")[0]
    sensors = {s["source"]: s for s in json.loads(desc)["sensors"]}
    assert sensors["rpi"]["status"] == "available" and sensors["rpi"]["simulated"] is True
    assert "simulated" in run.output and "(emulated)" in run.output


# --- upgrade and uninstall --------------------------------------------------------------------
def test_upgrade_installs_a_new_build_and_restarts_the_agent(farm, installed, tmp_path):
    m = re.search(r"wheel: built rigbench \S+ \(build (\w+)\) from (\S+) ", installed.output)
    assert m, installed.output
    wheel = next((Path(m.group(2)) / m.group(1)).glob("rigbench-*.whl"))
    old_build, old_agent = farm.state()["build_id"], farm.pid("agent")
    new = rebuilt(wheel, tmp_path / "new")
    r = farm.cli("agent", "upgrade", DEVICE, "--wheel", str(new), "--work", str(WORK))
    assert r.exit_code == 0, r.output
    new_build = farm.state()["build_id"]
    assert new_build != old_build and f"(was build {old_build})" in r.output
    assert "supervisor restarted" in r.output and "health: serving" in r.output
    assert farm.pid("agent") != old_agent
    assert "Secsh channel" not in r.output


def test_uninstall_stops_the_agent_and_removes_it(farm, installed):
    r = farm.cli("agent", "uninstall", DEVICE, "--purge")
    assert r.exit_code == 0, r.output
    assert "stopped supervisor" in r.output
    deadline = time.monotonic() + 30
    while _board_commands(farm) - {"sshd"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _board_commands(farm) <= {"sshd"}, _board_commands(farm)
    assert not farm.install_dir.exists()
    status = farm.cli("agent", "status", DEVICE)
    assert status.exit_code == 2 and "install: none" in status.output


def _board_commands(farm: Farm) -> set[str]:
    """What runs on the board (in its namespace), by name: sshd alone once uninstalled."""
    names = set()
    for pid in eb.namespace_pids(farm.board.namespace):
        try:
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return names


def step_lines_of(output: str) -> list[str]:
    prefix = f"[{DEVICE}] "
    return [ln.removeprefix(prefix) for ln in output.splitlines() if ln.startswith(prefix)]
