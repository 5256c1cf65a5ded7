"""Host-key verification and authentication against a real OpenSSH server on loopback.

Unknown and changed keys are refused by default; trust on first use records a key and then
checks it like any other; a changed key is refused even with trust on first use.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rigbench.controller.inventory import Device
from rigbench.controller.ssh.errors import HostKeyError, SshAuthError, SshUnreachableError
from rigbench.controller.ssh.session import SshSession
from rigbench.errors import AgentUnreachableError
from tests.sshd import SSH_KEYGEN, Sshd, free_port, keygen, sshd_available, start_sshd

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sshd_available(), reason="needs openssh-server (apt-get install)"),
]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    s = start_sshd(tmp_path / "sshd")
    try:
        yield s
    finally:
        s.stop()


def device(sshd: Sshd, known_hosts: Path, **ssh: object) -> Device:
    block = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "user": sshd.user,
        "key_file": str(sshd.user_key),
        "known_hosts": str(known_hosts),
        **ssh,
    }
    return Device.model_validate(
        {"name": "box", "class": "x86", "ssh": block, "connect_timeout_s": 5}
    )


def host_fingerprint(sshd: Sshd) -> str:
    out = subprocess.run(
        [SSH_KEYGEN, "-lf", f"{sshd.host_key}.pub"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def test_a_known_key_is_verified_and_commands_run(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    with SshSession.open(device(sshd, kh)) as s:
        assert "verified" in s.host_key_note and host_fingerprint(sshd) in s.host_key_note
        r = s.run("echo out; echo err >&2; exit 3", check=False)
    assert (r.rc, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_an_unknown_key_is_refused_and_not_recorded(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    with pytest.raises(HostKeyError, match="unknown host key") as e:
        SshSession.open(device(sshd, kh))
    assert host_fingerprint(sshd) in str(e.value)
    assert isinstance(e.value, AgentUnreachableError)
    assert not kh.exists()


def test_trust_on_first_use_records_the_key_then_checks_it(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    with SshSession.open(device(sshd, kh), trust_on_first_use=True) as s:
        assert "recorded" in s.host_key_note
    assert kh.read_text() == sshd.known_hosts_line()
    with SshSession.open(device(sshd, kh)) as s:  # no TOFU needed now
        assert "verified" in s.host_key_note


def test_a_changed_key_is_refused_even_with_trust_on_first_use(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    before = kh.read_text()
    old = host_fingerprint(sshd)
    sshd.restart_with_new_host_key()
    new = host_fingerprint(sshd)
    for tofu in (False, True):
        with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as e:
            SshSession.open(device(sshd, kh, trust_on_first_use=tofu))
        assert old in str(e.value) and new in str(e.value) and "ssh-keygen -R" in str(e.value)
    assert kh.read_text() == before  # nothing recorded, nothing replaced


def test_a_key_of_another_type_on_file_counts_as_changed(sshd, tmp_path):
    other = keygen(tmp_path / "ecdsa", "ecdsa")
    kind, b64 = Path(f"{other}.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        SshSession.open(device(sshd, kh, trust_on_first_use=True))


def test_a_key_the_server_does_not_accept_is_an_auth_error(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(SshAuthError, match=f"refused the key {stranger}") as e:
        SshSession.open(device(sshd, kh, key_file=str(stranger)))
    msg = str(e.value)
    assert "PRIVATE KEY" not in msg and "\n" not in msg  # one line, saying what to fix:
    assert f"~{sshd.user}/.ssh/authorized_keys" in msg and f"usermod -p '*' {sshd.user}" in msg


def test_no_server_is_unreachable(tmp_path):
    kh = tmp_path / "known_hosts"
    s = Sshd(tmp_path, free_port(), tmp_path / "k", tmp_path / "u", "nobody")
    with pytest.raises(SshUnreachableError, match="cannot reach SSH"):
        SshSession.open(device(s, kh))
