"""The pure parts of the SSH installer: host facts, platform tags, unit and supervisor texts,
known_hosts recording, wheel identity, CLI help. Fast; real tools only where they check text
(``sh -n``, ``systemd-analyze verify``, ``ssh-keygen -lf``).
"""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest
from typer.testing import CliRunner

from rigbench.agent.telemetry.settings import to_options
from rigbench.controller.cli import app
from rigbench.controller.cli.agent_admin import select_ssh_devices
from rigbench.controller.ssh.errors import HostKeyError, SshError
from rigbench.controller.ssh.hostkeys import (
    HostKeyPolicy,
    fingerprint,
    host_key_name,
    record_host_key,
)
from rigbench.controller.ssh.probe import parse_facts, probe_script
from rigbench.controller.ssh.service import choose_service, logs_script
from rigbench.controller.ssh.units import (
    RemoteLayout,
    resolve_install_dir,
    serve_options,
    service_name,
    supervisor_script,
    systemd_unit,
)
from rigbench.controller.ssh.wheels import _pip_reason, build_wheel, platform_tags
from rigbench.errors import AgentUnreachableError, InventoryError
from tests.sshd import SSH_KEYGEN, keygen, sshd_available

PY_OK = {
    "version": [3, 11, 2],
    "impl": "cpython",
    "libc": "glibc",
    "libc_version": "2.36",
    "machine": "x86_64",
    "venv": True,
    "executable": "/usr/bin/python3",
}


def facts_text(py: dict | None = None, **kv: str) -> str:
    base = {
        "arch": "x86_64",
        "kernel": "Linux 6.1.0",
        "uid": "1000",
        "user": "bench",
        "home": "/home/bench",
        "pid1": "systemd",
        "systemd_booted": "1",
        "systemctl": "1",
        "user_systemd": "1",
        "setsid": "1",
        "nvidia": "0",
        "jetson": "0",
    }
    base.update(kv)
    lines = [f"{k}={v}" for k, v in base.items()]
    lines.append("python=" + json.dumps(py or PY_OK))
    return "\n".join(lines) + "\n"


# --- host facts -------------------------------------------------------------------------------
def test_facts_of_a_pi_with_systemd():
    py = {**PY_OK, "machine": "aarch64", "libc_version": "2.36"}
    f = parse_facts(facts_text(py, arch="aarch64"), "pi5", "python3")
    assert f.arch == "aarch64" and f.python_tag == "cp311" and f.systemd
    assert f.platform_key == "cp311-glibc2.36-aarch64"
    assert "Python 3.11.2" in f.summary() and "systemd" in f.summary()


def test_facts_of_a_container_without_systemd_choose_the_supervisor():
    f = parse_facts(facts_text(pid1="bash", systemd_booted="0", uid="0"), "box", "python3")
    assert not f.systemd
    choice = choose_service(f, "auto")
    assert choice.kind == "supervisor" and "PID 1 is bash" in choice.reason
    with pytest.raises(SshError, match="needs systemd"):
        choose_service(f, "system")


def test_service_choice_with_systemd_depends_on_root_and_user_manager():
    root = parse_facts(facts_text(uid="0"), "d", "python3")
    assert choose_service(root, "auto").kind == "system"
    user = parse_facts(facts_text(), "d", "python3")
    assert choose_service(user, "auto").kind == "user"
    with pytest.raises(SshError, match="needs root"):
        choose_service(user, "system")
    no_bus = parse_facts(facts_text(user_systemd="0"), "d", "python3")
    assert choose_service(no_bus, "auto").kind == "supervisor"


@pytest.mark.parametrize(
    "py, match",
    [
        ({**PY_OK, "version": [3, 9, 2]}, "needs 3.10 or newer"),
        ({**PY_OK, "venv": False}, "python3-venv"),
    ],
)
def test_facts_refuse_an_unusable_python(py, match):
    with pytest.raises(SshError, match=match):
        parse_facts(facts_text(py), "d", "python3")


def test_facts_name_a_missing_interpreter():
    text = facts_text().replace("python=", "ignored=") + "python_error=sh: 1: python9: not found\n"
    with pytest.raises(SshError, match="cannot run 'python9'.*set ssh.python"):
        parse_facts(text, "d", "python9")


def test_probe_script_is_valid_sh_and_runs_here(tmp_path):
    script = probe_script("python3")
    subprocess.run(["sh", "-n", "-c", script], check=True)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    f = parse_facts(out, "here", "python3")
    assert f.python_version[:2] >= (3, 10) and f.arch


# --- platform tags ----------------------------------------------------------------------------
def test_platform_tags_cover_every_manylinux_policy_up_to_the_hosts_glibc():
    tags = platform_tags("x86_64", "glibc", "2.31")
    assert tags[0] == "manylinux_2_31_x86_64"
    assert "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert "manylinux1_x86_64" in tags
    assert "manylinux_2_34_x86_64" not in tags  # newer than the host's glibc
    arm = platform_tags("aarch64", "glibc", "2.35")
    assert arm[-1] == "manylinux2014_aarch64" and "manylinux_2_16_aarch64" not in arm
    assert platform_tags("aarch64", "", "") == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]


def test_pip_reason_is_the_error_line():
    out = "Looking in links: x\nERROR: Could not find a version that satisfies onnxruntime\nmore"
    assert _pip_reason(out).startswith("Could not find a version")


# --- layout and texts -------------------------------------------------------------------------
def test_install_dir_is_resolved_under_the_users_home():
    assert resolve_install_dir("~/.rigbench-agent", "/home/b") == "/home/b/.rigbench-agent"
    assert resolve_install_dir("agent", "/home/b") == "/home/b/agent"
    assert resolve_install_dir("/opt/rb/", "/home/b") == "/opt/rb"


def test_service_name_is_stable_and_names_a_second_agent_by_port():
    assert service_name(50151) == "rigbench-agent"
    assert service_name(50999) == "rigbench-agent-50999"


def test_system_unit_runs_the_agent_on_loopback_as_the_user_and_restarts_forever():
    lay = RemoteLayout("/home/bench/.rigbench-agent")
    text = systemd_unit(lay, 50151, user_unit=False, run_as="bench")
    assert (
        "ExecStart=/home/bench/.rigbench-agent/venv/bin/rigbench agent serve --host 127.0.0.1 "
        "--port 50151 --home /home/bench/.rigbench-agent/home" in text
    )
    assert "User=bench" in text and "Restart=always" in text
    assert "StartLimitIntervalSec=0" in text and "WantedBy=multi-user.target" in text
    assert "token" not in text.lower() and "key" not in text.lower()
    user = systemd_unit(lay, 50151, user_unit=True, run_as="bench")
    assert "User=" not in user and "WantedBy=default.target" in user


def test_unit_quotes_paths_with_spaces_and_percent():
    text = systemd_unit(RemoteLayout("/srv/my agents/100%"), 50151, user_unit=True, run_as=None)
    assert 'ExecStart="/srv/my agents/100%%/venv/bin/rigbench"' in text


def test_unit_and_supervisor_carry_the_devices_sensor_settings_word_for_word():
    lay = RemoteLayout("/a")
    extra = to_options({"external": {"command": "meter --host \"$PLUG\" 100%"}})
    unit = systemd_unit(lay, 50151, user_unit=True, run_as=None, extra=extra)
    # systemd: $ would expand a variable and % a specifier; both are doubled to stay literal.
    assert ' --sensor "external.command=meter --host \\"$$PLUG\\" 100%%"\n' in unit
    script = supervisor_script(lay, 50151, extra)
    cmd = next(ln for ln in script.splitlines() if "agent serve" in ln).strip()
    words = shlex.split(cmd.split(" >>")[0])
    assert words[-2:] == ["--sensor", 'external.command=meter --host "$PLUG" 100%']


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    lay = RemoteLayout(str(tmp_path / "agent"))
    exe = Path(lay.rigbench)
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "rigbench-agent.service"
    unit.write_text(systemd_unit(lay, 50151, user_unit=False, run_as="root"))
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    complaints = [
        ln
        for ln in (r.stdout + r.stderr).splitlines()
        if "rigbench-agent.service" in ln and "network-online.target" not in ln
    ]
    assert complaints == [], r.stdout + r.stderr


def test_supervisor_script_is_valid_sh_and_restarts_with_backoff():
    lay = RemoteLayout("/opt/rigbench agent")
    text = supervisor_script(lay, 50151)
    subprocess.run(["sh", "-n", "-c", text], check=True)
    assert "dir='/opt/rigbench agent'" in text
    assert "'/opt/rigbench agent/venv/bin/rigbench' agent serve --host 127.0.0.1" in text
    assert 'echo $$ > "$dir/supervisor.pid"' in text and "trap stop TERM" in text


def test_a_recorded_sensor_root_reaches_the_agents_command_line():
    """A virtual Pi 5: the inventory's ssh.telemetry_root makes the agent read a recording."""
    lay = RemoteLayout("/a")
    extra = serve_options("/opt/pi5 root", False)
    assert extra == ["--telemetry-root", "/opt/pi5 root", "--simulated"]
    assert serve_options(None, False) == [] and serve_options(None, True) == ["--simulated"]
    sup = supervisor_script(lay, 50151, extra)
    subprocess.run(["sh", "-n", "-c", sup], check=True)
    assert "--home /a/home --telemetry-root '/opt/pi5 root' --simulated" in sup
    unit = systemd_unit(lay, 50151, user_unit=True, run_as=None, extra=extra)
    assert '--telemetry-root "/opt/pi5 root" --simulated' in unit
    assert supervisor_script(lay, 50151) != sup  # a changed root rewrites it: the agent restarts


def test_logs_come_from_the_journal_or_the_supervisor_log():
    lay = RemoteLayout("/a")
    assert "tail -n 50 /a/agent.log" in logs_script(lay, "supervisor", 50151, 50, False)
    assert "tail -n 5 -F" in logs_script(lay, "supervisor", 50151, 5, True)
    assert logs_script(lay, "user", 50151, 9, False).startswith(
        "journalctl --user -u rigbench-agent -n 9"
    )
    assert logs_script(lay, "system", 50999, 9, True).endswith("-f")


# --- known_hosts ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ed25519(tmp_path_factory) -> tuple[paramiko.PKey, Path]:
    if not sshd_available():
        pytest.skip("ssh-keygen not installed")
    path = keygen(tmp_path_factory.mktemp("keys") / "k")
    return paramiko.Ed25519Key.from_private_key_file(str(path)), Path(str(path) + ".pub")


def test_fingerprint_matches_ssh_keygen(ed25519):
    key, pub = ed25519
    out = subprocess.run([SSH_KEYGEN, "-lf", str(pub)], capture_output=True, text=True).stdout
    assert fingerprint(key).split()[1] == out.split()[1]


def test_unknown_key_is_refused_and_nothing_is_written(ed25519, tmp_path):
    key, _ = ed25519
    kh = tmp_path / "known_hosts"
    policy = HostKeyPolicy(kh, trust_on_first_use=False)
    with pytest.raises(HostKeyError, match=r"unknown host key.*SHA256:.*--trust-on-first-use"):
        policy.missing_host_key(paramiko.SSHClient(), "[10.0.0.7]:2222", key)
    assert not kh.exists()
    assert issubclass(HostKeyError, AgentUnreachableError)  # a run skips the device


def test_trust_on_first_use_appends_a_private_line(ed25519, tmp_path):
    key, pub = ed25519
    kh = tmp_path / "ssh" / "known_hosts"
    policy = HostKeyPolicy(kh, trust_on_first_use=True)
    policy.missing_host_key(paramiko.SSHClient(), host_key_name("10.0.0.7", 2222), key)
    assert kh.read_text() == f"[10.0.0.7]:2222 {' '.join(pub.read_text().split()[:2])}\n"
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600
    assert "recorded" in (policy.recorded or "")
    kh.write_text(kh.read_text() + "other ssh-ed25519 AAAA")  # no final newline
    record_host_key(kh, "pi", key)
    assert kh.read_text().splitlines()[-1].startswith("pi ssh-ed25519 ")
    assert paramiko.HostKeys(str(kh)).lookup("[10.0.0.7]:2222") is not None


# --- wheel ------------------------------------------------------------------------------------
def test_a_wheel_build_is_identified_by_its_contents_not_its_timestamps(tmp_path):
    a = build_wheel(tmp_path / "a")
    b = build_wheel(tmp_path / "b")
    if a.build_id != b.build_id:  # someone edited the checkout between the two builds
        pytest.skip("checkout changed during the test")
    assert a.path.read_bytes() != b"" and a.version
    assert any(r.startswith("grpcio") for r in a.requires)
    assert {"onnxruntime", "litert"} <= set(a.extras)
    assert a.path.parent.name == a.build_id


# --- CLI --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["install", "upgrade", "status", "logs", "uninstall"])
def test_every_agent_command_has_help_with_an_example(cmd):
    r = CliRunner().invoke(app, ["agent", cmd, "--help"])
    assert r.exit_code == 0 and "Example: rigbench agent " + cmd in r.output


def test_devices_must_have_an_ssh_block(tmp_path):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n  - {name: local, class: local}\n"
        "  - {name: pi, class: rpi, ssh: {host: 127.0.0.1, user: b}}\n"
    )
    assert [d.name for d in select_ssh_devices(inv, None, True)] == ["pi"]
    with pytest.raises(InventoryError, match="uses the local transport"):
        select_ssh_devices(inv, ["local"], False)
    with pytest.raises(InventoryError, match="or use --all"):
        select_ssh_devices(inv, [], False)
    with pytest.raises(InventoryError, match="unknown device"):
        select_ssh_devices(inv, ["nope"], False)
    r = CliRunner().invoke(app, ["agent", "install", "local", "-i", str(inv)])
    assert r.exit_code == 2 and "ssh: block" in r.output
