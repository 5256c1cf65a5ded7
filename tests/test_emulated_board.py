"""The emulated board's pure parts, in the main suite: its /proc/cpuinfo, and its refusals.

The board itself (debootstrap, qemu-user, sshd) runs in ``tests/test_arm_board.py`` with
``make test-arm``; these check what it writes and says without starting one.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from rigbench.agent.describe import cpu_model, physical_cores
from tests.paths import REPO
from tools import emulated_board as eb

# AT_HWCAP that qemu-aarch64 7.2 gives a process under QEMU_CPU=cortex-a76 (read on the
# board from /proc/self/auxv): fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
# asimdrdm lrcpc dcpop asimddp.
A76_HWCAP = 0x1FFB | (1 << 12) | (1 << 15) | (1 << 16) | (1 << 20)


def test_hwcap_bits_become_the_kernels_feature_names_in_its_order():
    expected = "fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc"
    assert eb.hwcap_names(A76_HWCAP, 0) == [*expected.split(), "dcpop", "asimddp"]
    assert eb.hwcap_names(1 << 22, 1 << 1) == ["sve", "sve2"]


def test_an_unnamed_hwcap_bit_is_refused_rather_than_left_out():
    with pytest.raises(eb.BoardError, match="AT_HWCAP2 bit 60"):
        eb.hwcap_names(1, 1 << 60)


def test_auxv_pairs_are_read_as_64_bit_words():
    data = struct.pack("<6Q", eb.AT_HWCAP, A76_HWCAP, eb.AT_HWCAP2, 0, 0, 0) + b"\x01"
    assert eb.parse_auxv(data) == {eb.AT_HWCAP: A76_HWCAP, eb.AT_HWCAP2: 0, 0: 0}


def test_the_cpuinfo_describes_the_pinned_cpu_as_the_agent_reads_it(tmp_path):
    model = eb.CPU_MODELS["cortex-a76"]
    text = eb.cpuinfo_text(model, eb.hwcap_names(A76_HWCAP, 0), processors=4)
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(text)
    blocks = [b for b in text.split("\n\n") if b.startswith("processor")]
    assert [b.splitlines()[0] for b in blocks] == [f"processor\t: {n}" for n in range(4)]
    assert all("CPU implementer\t: 0x41" in b and "CPU part\t: 0xd0b" in b for b in blocks)
    assert "Cortex-A76" in cpu_model(tmp_path) and "QEMU_CPU=cortex-a76" in cpu_model(tmp_path)
    assert physical_cores(tmp_path) == (os.cpu_count() or 0)  # no core ids: as on arm64


def test_every_pinned_model_is_one_qemu_knows():
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        pytest.skip("needs qemu-user-static (apt-get install)")
    known = subprocess.run([qemu, "-cpu", "help"], capture_output=True, text=True).stdout.split()
    assert set(eb.CPU_MODELS) <= set(known)


SYSTEM_PYTHON = "/usr/bin/python3"  # the script runs before any virtualenv exists


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root (to drop to nobody) and /usr/bin/python3",
)
def test_without_root_it_refuses_in_one_line():
    folder = Path(tempfile.mkdtemp(prefix="rigbench-board-check-"))  # nobody must reach it
    try:
        folder.chmod(0o755)
        script = folder / "emulated_board.py"
        shutil.copy(REPO / "tools" / "emulated_board.py", script)
        script.chmod(0o644)
        r = subprocess.run(
            ["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, str(script), "check"],
            capture_output=True,
            text=True,
            cwd="/",
        )
    finally:
        shutil.rmtree(folder)
    assert r.returncode == eb.EXIT_CANNOT, r.stderr
    assert r.stderr.strip().splitlines() == [
        "emulated board: cannot run here: an emulated board needs root (debootstrap, chroot, "
        "mounts)"
    ]
