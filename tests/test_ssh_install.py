"""``rigbench agent install|status|logs|upgrade|uninstall`` against a real sshd on loopback.

"The host" is this machine reached through OpenSSH as the test user, with its own install
folder. ``install`` really builds the wheel, ships it and an offline wheelhouse for the
host's platform (downloaded once into ``.rigbench/ssh-test-work`` and reused by later
runs), creates a venv with the host's python3, installs the runtimes, and starts the agent
under the fallback supervisor (PID 1 is not systemd here). Then the controller runs a real
plan through the SSH tunnel, the agent is killed and comes back, a new build is upgraded
to, and everything is removed. Tests run in file order and share one install.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rigbench.agent.jobs import JobFailure, JobResult, MeasurementConfig
from rigbench.controller.cli import app
from rigbench.controller.connect import connect
from rigbench.controller.inventory import load_inventory
from rigbench.errors import AgentUnreachableError
from tests.builders.jobs import spec
from tests.builders.wheels import rebuilt
from tests.conftest import run
from tests.paths import REPO
from tests.sshd import Sshd, keygen, sshd_available, start_sshd

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not sshd_available(), reason="needs openssh-server (apt-get install)"),
]

WORK = REPO / ".rigbench" / "ssh-test-work"  # wheel builds and wheelhouses, kept across runs
AGENT_PORT_ENV = "RIGBENCH_TEST_SSH_AGENT_PORT"

PLAN = """
name: ssh-smoke
models:
  - name: cnn
    generate: {size: tiny, seed: 0}
    variants: [fp32]
    accuracy: {samples: 0}
runtimes:
  - {name: ort-cpu, runtime: onnxruntime, providers: [cpu], threads: 1}
measurement: {warmup_iterations: 2, min_iterations: 20, min_duration_s: 0, max_duration_s: 5}
telemetry: {enabled: false}
"""


@dataclass
class Farm:
    sshd: Sshd
    folder: Path
    inventory: Path
    install_dir: Path
    agent_port: int

    def cli(self, *args: str, inventory: Path | None = None) -> Result:
        argv = [*args, "-i", str(inventory or self.inventory)]
        return CliRunner().invoke(app, argv, catch_exceptions=False)

    def pid(self, name: str) -> int | None:
        p = self.install_dir / f"{name}.pid"
        return int(p.read_text()) if p.exists() and p.read_text().strip() else None

    def state(self) -> dict:
        return json.loads((self.install_dir / "state.json").read_text())


def write_inventory(
    path: Path, sshd: Sshd, known_hosts: Path, install_dir: Path, port: int, sensors: str = ""
):
    path.write_text(
        "devices:\n"
        "  - name: box\n"
        "    class: x86\n"
        "    connect_timeout_s: 10\n"
        + (f"    sensors: {sensors}\n" if sensors else "")
        + "    ssh:\n"
        f"      host: 127.0.0.1\n      port: {sshd.port}\n      user: {sshd.user}\n"
        f"      key_file: {sshd.user_key}\n      known_hosts: {known_hosts}\n"
        f"      install_dir: {install_dir}\n      agent_port: {port}\n"
    )


HAS_CRONTAB = shutil.which("crontab") is not None
THEIRS = "@daily true # a line of the user's own, which install and uninstall must keep"


def crontab() -> str:
    """The test user's crontab (the host is this machine, reached as the same user)."""
    r = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return r.stdout if r.returncode == 0 else ""


def set_crontab(text: str | None) -> None:
    if text is None:
        subprocess.run(["crontab", "-r"], capture_output=True, check=False)
    else:
        subprocess.run(["crontab", "-"], input=text, text=True, check=True)


def boot_lines(farm: Farm) -> list[str]:
    """The farm's own @reboot lines (other agents installed for the same user keep theirs)."""
    mine = str(farm.install_dir)
    return [ln for ln in crontab().splitlines() if ln.startswith("@reboot") and mine in ln]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    folder = tmp_path_factory.mktemp("ssh-farm")
    sshd = start_sshd(folder / "sshd")
    kh = folder / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    from tests.sshd import free_port

    port = int(os.environ.get(AGENT_PORT_ENV) or free_port())
    f = Farm(sshd, folder, folder / "inventory.yaml", folder / "host" / "rigbench-agent", port)
    write_inventory(f.inventory, sshd, kh, f.install_dir, port)
    saved = (crontab() or None) if HAS_CRONTAB else None
    if HAS_CRONTAB:
        set_crontab((saved or "") + THEIRS + "\n")
    try:
        yield f
    finally:  # whatever happened, leave no agent running and the crontab as it was
        for name in ("supervisor", "agent"):
            pid = f.pid(name)
            if _alive(pid):
                os.kill(pid, signal.SIGTERM if name == "supervisor" else signal.SIGKILL)
        if HAS_CRONTAB:
            set_crontab(saved)
        sshd.stop()


@pytest.fixture(scope="module")
def installed(farm: Farm) -> tuple[Result, float, Path]:
    """The first install: (CLI result, seconds, the wheel it built)."""
    t0 = time.monotonic()
    r = farm.cli("agent", "install", "box", "--work", str(WORK), "--index", "offline")
    seconds = time.monotonic() - t0
    assert r.exit_code == 0, r.output
    m = re.search(r"wheel: built rigbench \S+ \(build (\w+)\) from (\S+) ", r.output)
    assert m, r.output
    wheel = next((Path(m.group(2)) / m.group(1)).glob("rigbench-*.whl"))
    return r, seconds, wheel


def step_lines(output: str) -> list[str]:
    return [ln.removeprefix("[box] ") for ln in output.splitlines() if ln.startswith("[box] ")]


def wait_for(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- host keys are checked before anything happens -------------------------------------------
def test_install_refuses_an_unknown_host_key(farm, tmp_path):
    inv = tmp_path / "inventory.yaml"
    write_inventory(inv, farm.sshd, tmp_path / "empty_known_hosts", tmp_path / "x", 1)
    r = farm.cli("agent", "status", "box", inventory=inv)
    assert r.exit_code == 2 and "unknown host key" in r.output
    assert not (tmp_path / "empty_known_hosts").exists()


def test_install_refuses_a_changed_host_key(farm, tmp_path):
    impostor = keygen(tmp_path / "impostor")
    kind, b64 = Path(f"{impostor}.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{farm.sshd.port} {kind} {b64}\n")
    inv = tmp_path / "inventory.yaml"
    write_inventory(inv, farm.sshd, kh, tmp_path / "x", 1)
    r = farm.cli("agent", "install", "box", "--trust-on-first-use", inventory=inv)
    assert r.exit_code == 2 and "HOST KEY CHANGED" in r.output
    assert not (tmp_path / "x").exists()  # refused before touching the host


# --- install ----------------------------------------------------------------------------------
def test_install_creates_everything_and_the_agent_serves(farm, installed):
    r, seconds, wheel = installed
    lines = step_lines(r.output)
    expect = [
        "host key ssh-ed25519 SHA256:",
        f"folder: {farm.install_dir} created",
        f"venv: {farm.install_dir}/venv created",
        "index: offline",
        f"wheel: uploaded {wheel.name}",
        "wheelhouse: shipped",
        "pip: agent dependencies installed, runtimes onnxruntime, litert",
        "service: supervised background process (PID 1 is",
        "service: supervisor started",
        "health: serving after",
    ]
    for e in expect:
        assert any(e in ln for ln in lines), f"no line with {e!r} in:\n{r.output}"
    st = farm.state()
    assert st["service"] == "supervisor" and st["offline"] is True
    assert st["extras_installed"] == ["onnxruntime", "litert"]
    assert st["agent_port"] == farm.agent_port
    agent = farm.pid("agent")
    assert _alive(farm.pid("supervisor")) and _alive(agent)
    cmdline = Path(f"/proc/{agent}/cmdline").read_bytes().split(b"\0")
    assert b"--host" in cmdline and cmdline[cmdline.index(b"--host") + 1] == b"127.0.0.1"
    assert seconds < 150


def test_nothing_secret_is_printed_or_stored(farm, installed):
    r, _, _ = installed
    key_body = "".join(farm.sshd.user_key.read_text().splitlines()[1:-1])
    stored = "".join(p.read_text(errors="replace") for p in farm.install_dir.glob("*.json"))
    for chunk in (key_body[i : i + 24] for i in range(0, len(key_body) - 24, 24)):
        assert chunk not in r.output and chunk not in stored


def test_install_again_changes_nothing_and_says_so(farm, installed):
    _, _, wheel = installed
    agent = farm.pid("agent")
    r = farm.cli("agent", "install", "box", "--wheel", str(wheel), "--work", str(WORK))
    assert r.exit_code == 0, r.output
    lines = step_lines(r.output)
    for e in ("folder:", "venv:", "package:", "service: supervisor"):
        hits = [ln for ln in lines if ln.startswith(e) and "skipped" in ln]
        assert hits, f"{e} not skipped:\n{r.output}"
    for word in ("uploaded", "created", "started", "restarted", "written", "shipped"):
        assert not any(word in ln for ln in lines), f"{word!r} on a second install:\n{r.output}"
    assert farm.pid("agent") == agent


def test_status_reports_build_service_and_health(farm, installed):
    r = farm.cli("agent", "status", "box")
    assert r.exit_code == 0, r.output
    st = farm.state()
    assert f"build {st['build_id']}" in r.output
    assert f"supervisor pid {farm.pid('supervisor')}, agent pid {farm.pid('agent')}" in r.output
    assert "health: serving" in r.output and "onnxruntime" in r.output


def test_status_as_json_is_one_record_per_host_on_stdout(farm, installed):
    r = farm.cli("agent", "status", "box", "--format", "json")
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)
    assert rec["device"] == "box" and rec["serving"] is True
    assert rec["build"] == farm.state()["build_id"] and rec["installed"]["build_id"] == rec["build"]
    assert "health: serving" in r.stderr  # the steps, apart from the data


def test_logs_show_the_agents_output(farm, installed):
    r = farm.cli("agent", "logs", "box", "-n", "20")
    assert r.exit_code == 0, r.output
    assert f"rigbench agent listening on 127.0.0.1:{farm.agent_port}" in r.output


def test_the_controller_runs_a_plan_through_the_ssh_tunnel(farm, installed, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    r = farm.cli(
        "run",
        str(plan),
        "--store",
        str(tmp_path / "store.duckdb"),
        "--work",
        str(tmp_path / "work"),
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    assert "finished): 1 result(s) on box, cnn, single-stream" in r.output
    assert re.search(r"^\S+\s+fp32\s+ort-cpu\s+\d", r.output, re.M), r.output
    assert (farm.install_dir / "home").exists() and any((farm.install_dir / "home").iterdir())


def test_the_inventorys_sensors_reach_the_installed_agent(farm, installed, tmp_path):
    _, _, wheel = installed
    metered = tmp_path / "metered.yaml"
    write_inventory(
        metered, farm.sshd, farm.folder / "known_hosts", farm.install_dir, farm.agent_port,
        sensors="{external: {command: 'echo 23.4'}}",
    )
    r = farm.cli("agent", "install", "box", "--wheel", str(wheel), "--work", str(WORK),
                 inventory=metered)
    assert r.exit_code == 0, r.output
    lines = step_lines(r.output)
    assert "service: supervisor script" in r.output and "written" in r.output
    assert "sensors: external available: `echo 23.4` reads 23.4 W" in lines
    cmdline = Path(f"/proc/{farm.pid('agent')}/cmdline").read_bytes().split(b"\0")
    assert cmdline[cmdline.index(b"--sensor") + 1] == b"external.command=echo 23.4"

    # The inventory without the meter: a run is refused until the agent is installed again.
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    r = farm.cli("run", str(plan), "--store", str(tmp_path / "s.duckdb"), "--work",
                 str(tmp_path / "work"), "--quiet")
    assert r.exit_code == 2, r.output
    assert "its agent runs with sensor settings for external" in r.output
    assert "rigbench agent install box" in r.output
    assert farm.cli("agent", "status", "box").exit_code != 0
    r = farm.cli("agent", "install", "box", "--wheel", str(wheel), "--work", str(WORK))
    assert r.exit_code == 0, r.output
    assert b"--sensor" not in Path(f"/proc/{farm.pid('agent')}/cmdline").read_bytes()
    assert farm.cli("agent", "status", "box").exit_code == 0


def test_the_supervisor_restarts_a_killed_agent(farm, installed):
    before = farm.pid("agent")
    assert _alive(before)
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: farm.pid("agent") not in (None, before), 20, "a new agent pid")
    wait_for(lambda: farm.cli("agent", "status", "box").exit_code == 0, 30, "health")
    assert (farm.install_dir / "restarts").read_text().strip() == "1"
    assert "agent exited (status 137); restart 1" in (farm.install_dir / "agent.log").read_text()
    assert "1 restart(s)" in farm.cli("agent", "status", "box").output


@pytest.mark.skipif(not HAS_CRONTAB, reason="needs crontab (apt-get install cron)")
def test_without_systemd_a_crontab_line_starts_the_agent_at_boot(farm, installed):
    r, _, _ = installed
    assert "start at boot: crontab @reboot entry written" in r.output
    (line,) = boot_lines(farm)
    assert str(farm.install_dir) in line and THEIRS in crontab()


@pytest.mark.skipif(not HAS_CRONTAB, reason="needs crontab (apt-get install cron)")
def test_the_boot_entry_brings_the_agent_back_after_a_reboot(farm, installed):
    sup, agent = farm.pid("supervisor"), farm.pid("agent")
    for pid in (sup, agent):  # the board loses power: nothing stops cleanly
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(sup) and not _alive(agent), 10, "processes to end")
    (line,) = boot_lines(farm)
    command = line.removeprefix("@reboot").strip()
    subprocess.run(["sh", "-c", command], check=True, timeout=30)  # what cron runs at boot
    wait_for(lambda: _alive(farm.pid("supervisor")), 20, "the supervisor")
    wait_for(lambda: farm.cli("agent", "status", "box").exit_code == 0, 60, "health")
    assert farm.pid("supervisor") != sup


def test_upgrade_does_not_restart_an_agent_in_the_middle_of_a_job(farm, installed, tiny, tmp_path):
    _, _, wheel = installed
    new = rebuilt(wheel, tmp_path / "new")
    long = MeasurementConfig(warmup_iterations=0, min_iterations=1, min_duration_s=60)
    s = spec(tiny.onnx_path, "ssh-long-job", measurement=long)
    agent = farm.pid("agent")

    async def go() -> tuple[int, str]:
        async with connect(load_inventory(farm.inventory).get("box"), tmp_path) as conn:
            await conn.client.ensure_artifacts({s.artifact_sha256: tiny.onnx_path})
            events = conn.client.run(s, timeout_s=120)
            await events.__anext__()  # accepted: the agent is measuring
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rigbench", "agent", "upgrade", "box", "-i",
                str(farm.inventory), "--wheel", str(new), "--work", str(WORK),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await proc.communicate()
            await conn.client.cancel(s.job_id)
            async for e in events:  # until the job has really ended
                if isinstance(e.body, (JobResult, JobFailure)):
                    break
            return proc.returncode or 0, out.decode()

    rc, out = run(go())
    assert rc == 2, out
    assert "is measuring job ssh-long-job" in out and "--force" in out
    assert farm.pid("agent") == agent


def test_upgrade_installs_a_new_build_and_restarts_the_agent(farm, installed, tmp_path):
    _, _, wheel = installed
    old_build, old_agent = farm.state()["build_id"], farm.pid("agent")
    new = rebuilt(wheel, tmp_path / "new")
    r = farm.cli("agent", "upgrade", "box", "--wheel", str(new), "--work", str(WORK))
    assert r.exit_code == 0, r.output
    new_build = farm.state()["build_id"]
    assert new_build != old_build
    assert f"build {new_build} installed (was build {old_build})" in r.output
    assert "supervisor restarted" in r.output and "health: serving" in r.output
    assert farm.pid("agent") != old_agent
    installed_init = next((farm.install_dir / "venv" / "lib").glob("python3*/site-packages"))
    assert (
        "rebuilt by test_ssh_install" in (installed_init / "rigbench" / "__init__.py").read_text()
    )
    again = farm.cli("agent", "upgrade", "box", "--wheel", str(new), "--work", str(WORK))
    assert again.exit_code == 0 and "already installed, skipped" in again.output


def test_uninstall_keeps_data_unless_purged(farm, installed, tmp_path):
    sup, agent = farm.pid("supervisor"), farm.pid("agent")
    r = farm.cli("agent", "uninstall", "box")
    assert r.exit_code == 0, r.output
    assert f"stopped supervisor (pid {sup})" in r.output
    wait_for(lambda: not _alive(sup) and not _alive(agent), 10, "processes to end")
    assert not (farm.install_dir / "venv").exists() and (farm.install_dir / "home").exists()
    assert "kept" in r.output and "--purge" in r.output
    if HAS_CRONTAB:
        assert "crontab @reboot entry removed" in r.output
        assert boot_lines(farm) == [] and THEIRS in crontab()
    status = farm.cli("agent", "status", "box")
    assert status.exit_code == 2 and "install: none" in status.output

    async def reach():
        async with connect(load_inventory(farm.inventory).get("box"), tmp_path):
            pass

    with pytest.raises(AgentUnreachableError, match="no agent listens"):
        run(reach())
    purge = farm.cli("agent", "uninstall", "box", "--purge")
    assert purge.exit_code == 0 and "not running, skipped" in purge.output
    assert not farm.install_dir.exists()
