"""The agent knows when qemu-user runs it: detection against captured and native /proc trees.

The capture in ``fixtures/emulation/`` is what a process on the emulated board of
``tools/emulated_board.py`` saw of itself (the real board is exercised by
``tests/test_arm_board.py``); a /proc tree is rebuilt from it with the same links and bytes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from rigbench.agent.convert import description_from_pb, description_to_pb
from rigbench.agent.describe import describe_device
from rigbench.agent.emulation import Emulation, arch_family, describe, detect_emulation, elf_machine
from tests.paths import REPO

CAPTURE = REPO / "tests" / "fixtures" / "emulation" / "qemu_user_aarch64_on_x86_64.txt"
PID = 4242


def captured() -> dict[str, str]:
    out = {}
    for line in CAPTURE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(": ")
            out[key] = value
    return out


def proc_tree(tmp: Path, exe_target: str, exe_header: bytes, kernel_arch: str | None) -> Path:
    """A /proc with one process whose kernel-side executable is ``exe_target`` (those bytes)."""
    proc = tmp / "proc"
    binary = tmp / "fs" / exe_target.lstrip("/")
    binary.parent.mkdir(parents=True)
    binary.write_bytes(exe_header + b"\0" * 44)
    task = proc / str(PID) / "task" / str(PID)
    task.mkdir(parents=True)
    (task / "exe").symlink_to(binary)
    if kernel_arch is not None:
        (proc / "sys" / "kernel").mkdir(parents=True)
        (proc / "sys" / "kernel" / "arch").write_text(kernel_arch + "\n")
    return proc


def test_the_captured_qemu_user_process_is_detected_with_its_cpu_model(tmp_path):
    c = captured()
    proc = proc_tree(
        tmp_path,
        c["readlink /proc/<pid>/task/<tid>/exe"],
        bytes.fromhex(c["head -c 20 /proc/<pid>/task/<tid>/exe | xxd -p"]),
        c["cat /proc/sys/kernel/arch"],
    )
    e = detect_emulation(proc, c["uname -m"], PID, PID, {"QEMU_CPU": c["QEMU_CPU"]})
    assert e is not None
    assert (e.emulator, e.host_arch, e.cpu_model) == ("qemu-user", "x86_64", "cortex-a76")
    assert e.interpreter.endswith("/usr/bin/qemu-aarch64-static")
    assert "x86_64 ELF" in e.evidence and "kernel is x86_64" in e.evidence
    assert describe(e) == "qemu-user on x86_64, CPU cortex-a76"


def test_either_signal_alone_is_enough(tmp_path):
    c = captured()
    header = bytes.fromhex(c["head -c 20 /proc/<pid>/task/<tid>/exe | xxd -p"])
    # An older kernel without /proc/sys/kernel/arch: the executable still tells.
    old_kernel = proc_tree(tmp_path / "a", "/usr/bin/qemu-aarch64-static", header, None)
    assert detect_emulation(old_kernel, "aarch64", PID, PID, {}) is not None
    # A qemu that also rewrote the task's exe (here: the guest's aarch64 python): the kernel's
    # architecture still tells.
    guest = bytes.fromhex(c["head -c 20 /proc/self/exe | xxd -p"])
    hidden = proc_tree(tmp_path / "b", "/usr/bin/python3.11", guest, "x86_64")
    e = detect_emulation(hidden, "aarch64", PID, PID, {})
    assert e is not None and e.host_arch == "x86_64" and "kernel is x86_64" in e.evidence


def test_without_qemu_cpu_the_model_is_qemus_default(tmp_path):
    c = captured()
    header = bytes.fromhex(c["head -c 20 /proc/<pid>/task/<tid>/exe | xxd -p"])
    proc = proc_tree(tmp_path, "/usr/bin/qemu-aarch64-static", header, "x86_64")
    e = detect_emulation(proc, "aarch64", PID, PID, {})
    assert e is not None and e.cpu_model == "" and describe(e).endswith("CPU qemu's default")


@pytest.mark.parametrize(
    ("exe_header", "kernel", "machine"),
    [
        ("7f454c460201010000000000000000000200b700", "aarch64", "aarch64"),  # a real Pi
        ("7f454c4601010100000000000000000002002800", "aarch64", "armv7l"),  # 32-bit Pi OS
        ("7f454c4602010100000000000000000002003e00", "x86_64", "x86_64"),  # this machine
        ("7f454c4601010100000000000000000002000300", "x86_64", "i686"),  # 32-bit userland
    ],
)
def test_native_and_compat_userlands_are_not_emulated(tmp_path, exe_header, kernel, machine):
    proc = proc_tree(tmp_path, "/usr/bin/python3", bytes.fromhex(exe_header), kernel)
    assert detect_emulation(proc, machine, PID, PID, {"QEMU_CPU": "cortex-a76"}) is None


def test_this_machine_is_native():
    assert detect_emulation() is None  # the real /proc, this very process
    assert describe_device().emulation is None


def test_elf_headers_and_machine_names():
    assert elf_machine(Path(sys.executable).read_bytes()[:20]) == arch_family(os.uname().machine)
    assert elf_machine(b"#!/bin/sh\n" + b"\0" * 10) is None
    assert elf_machine(b"\x7fELF") is None  # too short
    assert [arch_family(m) for m in ("arm64", "armv8l", "amd64", "i686")] == [
        "aarch64",
        "arm",
        "x86_64",
        "x86",
    ]


def test_emulation_crosses_the_wire_and_absence_stays_absent():
    d = describe_device()
    assert description_from_pb(description_to_pb(d)).emulation is None
    e = Emulation("qemu-user", "x86_64", "/usr/bin/qemu-aarch64-static", "cortex-a76", "why")
    d.emulation = e
    back = description_from_pb(description_to_pb(d))
    assert back.emulation == e and back.emulated
    assert back.to_dict()["emulation"]["cpu_model"] == "cortex-a76"
