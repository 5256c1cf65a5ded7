"""Is this agent running under user-mode emulation (qemu-user on another architecture)?

An emulated board answers every question an agent asks as if it were real: ``uname`` says
aarch64, ``/proc/self/exe`` is the guest program, ``/proc/self/auxv`` and ``/proc/self/maps``
are rewritten by qemu. Its latencies, though, are 100-1000x a real board's, and its CPU,
memory, load and peak RSS are the host's or qemu's. So the agent says so in Describe, and
the controller labels (and refuses to price) everything measured there.

Two signals, each enough on its own, neither relying on the guest's view:

- the executable the *kernel* runs for this process, read through
  ``/proc/<pid>/task/<tid>/exe`` (qemu-user rewrites only ``/proc/self/exe`` and
  ``/proc/<pid>/exe``): under binfmt_misc that is the emulator, whose ELF header names
  another machine than the one this process believes it runs on;
- the kernel's own architecture (``/proc/sys/kernel/arch``, Linux 6.1+), which qemu does not
  rewrite, against ``uname -m`` as this process sees it (which qemu does). A 32-bit ARM or
  x86 userland on its own 64-bit kernel is native, not emulated.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# ELF e_machine -> the architecture family ``uname -m`` reports for it.
ELF_MACHINES = {
    3: "x86",
    62: "x86_64",
    40: "arm",
    183: "aarch64",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    243: "riscv64",
    258: "loongarch64",
}
# A 64-bit kernel runs its 32-bit sibling's programs natively (compat mode).
NATIVE_COMPAT = {("aarch64", "arm"), ("x86_64", "x86")}


@dataclass(frozen=True)
class Emulation:
    """How this process is emulated; absent (None) on native hardware."""

    emulator: str  # "qemu-user", or "user-mode emulator" when the binary is not qemu
    host_arch: str  # the machine the emulator itself runs on, e.g. "x86_64"
    interpreter: str  # the emulator binary as the kernel names it ("" when not seen)
    cpu_model: str  # QEMU_CPU as set for this process; "" = qemu's default CPU ("max")
    evidence: str  # how the agent knows, for a person reading `rigbench devices`


def arch_family(machine: str) -> str:
    """``uname -m`` spellings folded to one name per architecture."""
    m = machine.strip().lower()
    if m in ("x86_64", "amd64"):
        return "x86_64"
    if m in ("i386", "i486", "i586", "i686", "x86"):
        return "x86"
    if m in ("aarch64", "arm64", "aarch64_be"):
        return "aarch64"
    if m.startswith("arm"):
        return "arm"
    if m.startswith("ppc64"):
        return "ppc64"
    if m.startswith("riscv64"):
        return "riscv64"
    return m


def elf_machine(header: bytes) -> str | None:
    """The architecture an ELF file is built for, from its first 20 bytes; None if not ELF."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    e_machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return ELF_MACHINES.get(e_machine, f"elf-machine-{e_machine}")


def _differs(host: str, guest: str) -> bool:
    return host != guest and (host, guest) not in NATIVE_COMPAT


def detect_emulation(
    proc: Path = Path("/proc"),
    machine: str | None = None,
    pid: int | None = None,
    tid: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Emulation | None:
    """Emulation of the current process (or of ``pid`` in a recorded ``proc`` tree)."""
    guest = arch_family(machine if machine is not None else platform.machine())
    pid = os.getpid() if pid is None else pid
    tid = (threading.get_native_id() if pid == os.getpid() else pid) if tid is None else tid
    env = os.environ if environ is None else environ
    exe = proc / str(pid) / "task" / str(tid) / "exe"
    interpreter, exe_arch = "", None
    try:
        interpreter = os.readlink(exe)
        with open(exe, "rb") as f:
            exe_arch = elf_machine(f.read(20))
    except OSError:
        pass
    try:
        kernel_arch = arch_family((proc / "sys" / "kernel" / "arch").read_text())
    except OSError:
        kernel_arch = ""
    evidence = []
    if exe_arch and _differs(exe_arch, guest):
        evidence.append(f"the kernel runs {interpreter or 'an emulator'} ({exe_arch} ELF)")
    if kernel_arch and _differs(kernel_arch, guest):
        evidence.append(f"the kernel is {kernel_arch}")
    if not evidence:
        return None
    host = exe_arch if exe_arch and _differs(exe_arch, guest) else kernel_arch
    name = os.path.basename(interpreter)
    emulator = "qemu-user" if "qemu" in name or "binfmt" in name else "user-mode emulator"
    if not interpreter:
        emulator = "user-mode emulator"
    return Emulation(
        emulator=emulator,
        host_arch=host,
        interpreter=interpreter,
        cpu_model=env.get("QEMU_CPU", "") if emulator == "qemu-user" else "",
        evidence=f"{guest} userland, but " + " and ".join(evidence),
    )


def describe(e: Emulation) -> str:
    """One line for people: ``qemu-user on x86_64, CPU cortex-a76``."""
    cpu = f"CPU {e.cpu_model}" if e.cpu_model else "CPU qemu's default"
    if e.emulator != "qemu-user":
        cpu = "CPU unknown"
    return f"{e.emulator} on {e.host_arch}, {cpu}"
