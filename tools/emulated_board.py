#!/usr/bin/env python3
"""An emulated arm64 board on an x86 machine: Debian bookworm under qemu-user, reached by SSH.

It exists so that ``rigbench agent install`` can be tried, and tested, on aarch64 without a
board: the rootfs is built once with ``debootstrap --arch=arm64 --variant=minbase`` (python3,
python3-venv, openssh-server) and cached as a tarball under ``.rigbench/emulated-board/``;
each board is a fresh copy of it with sshd on a loopback port, fresh host and user keys, and
an unlocked account ``rigbench``.

What a working board needs, learned by hand (issue 19), and done here:

- binfmt_misc mounted and the ``qemu-aarch64`` handler enabled (with its interpreter opened
  at registration, flag F, so the chroot needs no qemu binary of its own);
- one pinned CPU model (``QEMU_CPU``, cortex-a76 by default: the Raspberry Pi 5's core),
  reaching every process, sshd sessions included (``SetEnv`` in sshd_config): qemu's default
  ``max`` CPU gives wrong dynamic-int8 results in ONNX Runtime;
- an ARM-format ``/proc/cpuinfo`` describing that same CPU, bind-mounted over the chroot's:
  ONNX Runtime segfaults reading the host's x86 one. Its ``Features`` line is what qemu
  itself reports (``AT_HWCAP``/``AT_HWCAP2`` under that ``QEMU_CPU``), its MIDR fields are
  the model's, so the two cannot disagree;
- an account sshd accepts keys for: ``useradd`` leaves it locked, ``usermod -p '*'`` fixes it.

Every mount lives in a private mount namespace (``unshare -m``) that sshd and all its
descendants share: the host's mount table never sees them, and teardown is "kill every
process in that namespace, by PID" after which the kernel drops the mounts with it. A board
is stopped on exit, on an exception and on Ctrl-C; ``down`` cleans one left behind by a
killed harness.

Usage (as root; prints one line and exits 3 where this machine cannot emulate):

    python3 tools/emulated_board.py check
    python3 tools/emulated_board.py build            # cached; --force rebuilds
    python3 tools/emulated_board.py up --inventory board.yaml   # until Ctrl-C

Stdlib only: the tests import it, and it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".rigbench" / "emulated-board"

SUITE = "bookworm"
ARCH = "arm64"
PACKAGES = ("python3", "python3-venv", "openssh-server")
MIRROR = os.environ.get("RIGBENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
RECIPE_VERSION = "2"  # bump when the build steps below change what the tarball holds
USER = "rigbench"
LOCKED_USER = "locked"  # left as useradd makes it, to show what a locked account looks like
BINFMT = Path("/proc/sys/fs/binfmt_misc")
BINFMT_ENTRY = BINFMT / "qemu-aarch64"
QEMU = shutil.which("qemu-aarch64-static") or "/usr/bin/qemu-aarch64-static"
EXIT_CANNOT = 3
PI5_ROOT = "/opt/rigbench/pi5-recorded"  # a "virtual Pi 5": the Pi's recorded sensors, here
TELEMETRY_FIXTURES = REPO / "tests" / "fixtures" / "telemetry"


@dataclass(frozen=True)
class CpuModel:
    """A qemu CPU model and the MIDR fields a real one reports in /proc/cpuinfo."""

    qemu_name: str
    title: str
    implementer: int
    variant: int
    part: int
    revision: int


# MIDR values as qemu's target/arm/cpu64.c sets them for these models.
CPU_MODELS = {
    m.qemu_name: m
    for m in (
        CpuModel("cortex-a76", "Arm Cortex-A76", 0x41, 0x4, 0xD0B, 1),
        CpuModel("neoverse-n1", "Arm Neoverse-N1", 0x41, 0x4, 0xD0C, 1),
        CpuModel("cortex-a72", "Arm Cortex-A72", 0x41, 0x0, 0xD08, 3),
    )
}
DEFAULT_CPU = "cortex-a76"  # the Raspberry Pi 5's core

# Linux arm64 hwcap names by bit (arch/arm64/kernel/cpuinfo.c, hwcap_str), AT_HWCAP then
# AT_HWCAP2: the Features line of /proc/cpuinfo lists them in this order.
HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt "
    "fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb "
    "paca pacg"
).split()
HWCAP2_NAMES = (
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm "
    "svef64mm svebf16 i8mm bf16 dgh rng bti mte ecv afp rpres mte3"
).split()
AT_HWCAP, AT_HWCAP2 = 16, 26


class BoardError(Exception):
    """A board could not be built or started; the message is one line saying why."""


class CannotEmulate(BoardError):
    """No emulated board can run on this machine (no root, no binfmt, no mounts)."""


# --- can this machine emulate? ----------------------------------------------------------------
def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _last_line(r: subprocess.CompletedProcess[str]) -> str:
    text = (r.stderr or r.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit code {r.returncode}"


def ensure_support() -> None:
    """Raise ``CannotEmulate`` (one line) unless this machine can run a board; set up binfmt.

    Mounting binfmt_misc and enabling Debian's qemu-aarch64 handler is what an admin does once
    per boot; it is left in place (other boards may be using it).
    """
    if sys.platform != "linux":
        raise CannotEmulate("an emulated board needs Linux (binfmt_misc, chroot, namespaces)")
    if os.geteuid() != 0:
        raise CannotEmulate("an emulated board needs root (debootstrap, chroot, mounts)")
    missing = [
        pkg
        for tool, pkg in (
            (QEMU, "qemu-user-static"),
            ("debootstrap", "debootstrap"),
            ("update-binfmts", "binfmt-support"),
            ("unshare", "util-linux"),
            ("ssh-keygen", "openssh-client"),
        )
        if not shutil.which(tool) and not os.access(tool, os.X_OK)
    ]
    if missing:
        raise CannotEmulate(f"an emulated board needs: apt-get install {' '.join(missing)}")
    if not (BINFMT / "register").exists():
        r = _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
        if r.returncode != 0:
            raise CannotEmulate(
                f"binfmt_misc is not mounted and cannot be here ({_last_line(r)}): this machine "
                "(a container?) does not allow emulating other architectures"
            )
    if not BINFMT_ENTRY.exists() or "enabled" not in BINFMT_ENTRY.read_text():
        r = _run(["update-binfmts", "--enable", "qemu-aarch64"])
        if r.returncode != 0 or not BINFMT_ENTRY.exists():
            raise CannotEmulate(
                f"cannot enable the qemu-aarch64 binfmt handler ({_last_line(r)}); "
                "try: update-binfmts --enable qemu-aarch64"
            )
    flags = next(
        (ln.split(":", 1)[1].strip() for ln in BINFMT_ENTRY.read_text().splitlines()
         if ln.startswith("flags:")),
        "",
    )  # fmt: skip
    if "F" not in flags:
        raise CannotEmulate(
            "the qemu-aarch64 binfmt handler lacks flag F (fix binary), so a chroot would need "
            "its own qemu; install Debian's qemu-user-static, which registers it with F"
        )
    r = _run([*PRIVATE_MOUNTS, "true"])
    if r.returncode != 0:
        raise CannotEmulate(f"mount namespaces are not allowed here ({_last_line(r)})")


def support_problem() -> str | None:
    """None when a board can run here, else the one-line reason (for a test's skip)."""
    try:
        ensure_support()
    except CannotEmulate as e:
        return str(e)
    return None


# --- the cached rootfs ------------------------------------------------------------------------
def recipe_digest() -> str:
    text = "\n".join([SUITE, ARCH, "minbase", *PACKAGES, USER, LOCKED_USER, RECIPE_VERSION])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _compressor() -> tuple[str, list[str]]:
    """(suffix, tar option): zstd where installed (several times faster), else gzip -1."""
    if shutil.which("zstd"):
        return "tar.zst", ["-I", "zstd -T0 -3"]
    return "tar.gz", ["-I", "gzip -1"]


def cached_tarball(cache: Path = CACHE) -> Path | None:
    for p in sorted(cache.glob(f"rootfs-{SUITE}-{ARCH}-{recipe_digest()}.tar.*")):
        if not p.name.endswith(".part"):
            return p
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _say(msg: str) -> None:
    print(f"emulated board: {msg}", file=sys.stderr, flush=True)


def build_rootfs(cache: Path = CACHE, force: bool = False, say=_say) -> Path:
    """The cached rootfs tarball; built first if missing (minutes: debootstrap under qemu)."""
    ensure_support()
    with _locked(cache / ".build.lock"):
        have = cached_tarball(cache)
        if have and not force:
            return have
        t0 = time.monotonic()
        suffix, compress = _compressor()
        out = cache / f"rootfs-{SUITE}-{ARCH}-{recipe_digest()}.{suffix}"
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
        root = work / "root"
        try:
            say(f"building the {SUITE} {ARCH} rootfs (debootstrap; minutes, once) in {work}")
            # debootstrap runs natively; the packages' dpkg and maintainer scripts run under
            # emulation, so what they need not do is set up in the target beforehand. In a
            # mount namespace of its own: the /proc and /sys it mounts in the target vanish
            # with it, even if it is killed half way.
            prepare_target(root)
            _debootstrap(
                [*PRIVATE_MOUNTS, "debootstrap", f"--arch={ARCH}", "--variant=minbase",
                 f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
                root,
            )  # fmt: skip
            say(f"debootstrap done in {time.monotonic() - t0:.0f}s; adding users")
            finish_rootfs(root)
            part = out.with_name(out.name + ".part")
            pack(root, part, compress)
            for old in cache.glob(f"rootfs-{SUITE}-{ARCH}-*.tar.*"):
                if old != part:
                    old.unlink()
            part.rename(out)
            size = out.stat().st_size / 1e6
            say(f"rootfs cached: {out} ({size:.0f} MB) in {time.monotonic() - t0:.0f}s")
            return out
        finally:
            _remove_tree(work)


PRIVATE_MOUNTS = ("unshare", "-m", "--propagation", "private")


def _remove_tree(folder: Path) -> None:
    """Remove a tree without crossing into a mount (and much faster than shutil.rmtree)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=False)


def _debootstrap(argv: list[str], root: Path) -> None:
    r = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(DEFAULT_CPU)
    )
    if r.returncode != 0:
        log = root / "debootstrap" / "debootstrap.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else r.stdout[-1500:]
        raise BoardError(f"{' '.join(argv[:3])} failed (exit {r.returncode}):\n{tail}")


# Never unpacked on the board: documentation and translations nobody reads there, and the CA
# certificates (the board installs from a shipped wheelhouse; pip carries its own), whose
# postinst alone is a quarter of the emulated build (one openssl run per certificate).
DPKG_EXCLUDES = """\
# rigbench emulated board (tools/emulated_board.py): not unpacked, to keep the build short.
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/ca-certificates/*
"""
SSH_HOST_KEYS = ("rsa", "ecdsa", "ed25519")


def prepare_target(root: Path) -> None:
    """Before debootstrap: dpkg path excludes, and no host keys to generate.

    openssh-server's postinst generates the host keys that are missing, RSA 3072 included,
    which under emulation takes most of its time; each board generates its own anyway, so
    empty placeholders stand in until ``finish_rootfs`` removes them.
    """
    cfg = root / "etc" / "dpkg" / "dpkg.cfg.d"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "01-rigbench-board").write_text(DPKG_EXCLUDES)
    ssh = root / "etc" / "ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    for kind in SSH_HOST_KEYS:
        (ssh / f"ssh_host_{kind}_key").touch()


def finish_rootfs(root: Path) -> None:
    """What a fresh debootstrap lacks for a board: its accounts; and what it must not keep."""
    _chroot(root, ["useradd", "--create-home", "--shell", "/bin/bash", USER])
    _chroot(root, ["usermod", "-p", "*", USER])  # useradd leaves it locked: sshd would refuse
    _chroot(root, ["useradd", "--create-home", "--shell", "/bin/bash", LOCKED_USER])
    for p in (root / "etc" / "ssh").glob("ssh_host_*"):
        p.unlink()  # each board generates its own host keys
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for p in (root / junk).glob("*"):
            if p.is_file():
                p.unlink()


def pack(root: Path, out: Path, compress: list[str]) -> None:
    r = _run(["tar", "-C", str(root), "--numeric-owner", *compress, "-cf", str(out), "."])
    if r.returncode != 0:
        raise BoardError(f"packing the rootfs failed: {_last_line(r)}")


def _env(cpu: str) -> dict[str, str]:
    """A clean environment for the chroot: the pinned CPU, and nothing of the caller's."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "QEMU_CPU": cpu, "LC_ALL": "C"}


def _chroot(root: Path, argv: list[str], cpu: str = DEFAULT_CPU) -> str:
    r = subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, env=_env(cpu))
    if r.returncode != 0:
        raise BoardError(f"{' '.join(argv)} in the arm64 chroot failed: {_last_line(r)}")
    return r.stdout


# --- /proc/cpuinfo for the pinned CPU ---------------------------------------------------------
def hwcap_names(hwcap: int, hwcap2: int) -> list[str]:
    """The Features of /proc/cpuinfo for these AT_HWCAP/AT_HWCAP2 words, in the kernel's order."""
    names = []
    for word, table, which in (
        (hwcap, HWCAP_NAMES, "AT_HWCAP"),
        (hwcap2, HWCAP2_NAMES, "AT_HWCAP2"),
    ):
        for bit in range(64):
            if word >> bit & 1:
                if bit >= len(table):
                    raise BoardError(
                        f"qemu reports {which} bit {bit}, which this script cannot name; add it "
                        "to HWCAP_NAMES so /proc/cpuinfo matches the emulated CPU"
                    )
                names.append(table[bit])
    return names


def cpuinfo_text(model: CpuModel, features: list[str], processors: int) -> str:
    """An arm64 /proc/cpuinfo in the kernel's format (arch/arm64/kernel/cpuinfo.c, c_show)."""
    blocks = []
    for n in range(processors):
        blocks.append(
            f"processor\t: {n}\n"
            f"Features\t: {' '.join(features)}\n"
            f"CPU implementer\t: 0x{model.implementer:02x}\n"
            "CPU architecture: 8\n"
            f"CPU variant\t: 0x{model.variant:x}\n"
            f"CPU part\t: 0x{model.part:03x}\n"
            f"CPU revision\t: {model.revision}\n"
        )
    title = f"rigbench emulated arm64 board ({model.title}, qemu-user QEMU_CPU={model.qemu_name})"
    return "\n".join(blocks) + f"\nModel\t\t: {title}\n"


_READ_AUXV = (
    "import struct\n"
    "d = open('/proc/self/auxv', 'rb').read()\n"
    "v = dict(struct.iter_unpack('<QQ', d[: len(d) // 16 * 16]))\n"
    f"print(v.get({AT_HWCAP}, 0), v.get({AT_HWCAP2}, 0))\n"
)


def emulated_hwcaps(root: Path, cpu: str) -> tuple[int, int]:
    """AT_HWCAP and AT_HWCAP2 as qemu gives them to a process under ``QEMU_CPU=cpu``."""
    out = _chroot(root, ["/usr/bin/python3", "-S", "-c", _READ_AUXV], cpu=cpu).split()
    return int(out[0]), int(out[1])


def parse_auxv(data: bytes) -> dict[int, int]:
    n = len(data) // 16 * 16
    return dict(struct.iter_unpack("<QQ", data[:n]))


# --- a running board --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> Path:
    for p in (path, Path(f"{path}.pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rigbench-board", "-f", str(path)],
        check=True,
    )
    return path


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == user:
            return int(f[2]), int(f[3])
    raise BoardError(f"no user {user} in the board's /etc/passwd")


def _sshd_config(port: int, cpu: str) -> str:
    return "\n".join(
        [
            "# rigbench emulated board: loopback only, keys only",
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "PidFile /run/sshd.pid",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "UsePAM no",
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AllowTcpForwarding yes",
            "Subsystem sftp internal-sftp",
            # Every session's processes (the agent too) must run on the same emulated CPU.
            f"SetEnv QEMU_CPU={cpu}",
            "LogLevel VERBOSE",
            "",
        ]
    )


# Run by `unshare -m` as root: mounts only this namespace sees, then sshd in the chroot.
_START = r"""
set -e
r="$1"; cpuinfo="$2"
mount -t proc proc "$r/proc"
mount --bind "$cpuinfo" "$r/proc/cpuinfo"
mount -t sysfs -o ro sysfs "$r/sys"
mount -t tmpfs -o mode=755 tmpfs "$r/run"
mkdir -p "$r/run/sshd" "$r/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
for d in null zero full random urandom tty; do
  [ -e "$r/dev/$d" ] || touch "$r/dev/$d"
  mount --bind "/dev/$d" "$r/dev/$d"
done
exec chroot "$r" /usr/sbin/sshd -D -e -f /etc/ssh/rigbench_sshd_config
"""


@dataclass
class Board:
    """One running emulated board: sshd in an arm64 chroot on ``127.0.0.1:port``."""

    folder: Path
    cpu: str = DEFAULT_CPU
    port: int = 0
    agent_port: int = 0
    user: str = USER
    proc: subprocess.Popen[bytes] | None = None
    namespace: str = ""  # "mnt:[...]" of sshd and everything started under it
    features: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def user_key(self) -> Path:
        return self.folder / "id_board"

    @property
    def host_key_pub(self) -> Path:
        return self.root / "etc" / "ssh" / "ssh_host_ed25519_key.pub"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    def known_hosts_line(self) -> str:
        kind, b64 = self.host_key_pub.read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {b64}\n"

    def inventory(
        self, name: str = "arm-board", extra_ssh: dict[str, str] | None = None, cls: str = "arm"
    ) -> str:
        """An inventory.yaml with this board as one SSH device (host key pinned)."""
        ssh = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "user": self.user,
            "key_file": str(self.user_key),
            "known_hosts": str(self.known_hosts),
            "agent_port": str(self.agent_port),
            "install_dir": "~/rigbench-agent",
            **(extra_ssh or {}),
        }
        lines = [
            "# an emulated arm64 board (tools/emulated_board.py): speed means nothing here",
            "devices:",
            f"  - name: {name}",
            f"    class: {cls}",
            "    tags: [emulated]",
            "    connect_timeout_s: 60",
            "    ssh:",
        ]
        lines += [f"      {k}: {v}" for k, v in ssh.items()]
        return "\n".join(lines) + "\n"

    # --- start --------------------------------------------------------------------------------
    def start(self, tarball: Path, timeout_s: float = 180.0, say=_say) -> Board:
        ensure_support()
        if self.cpu not in CPU_MODELS:
            raise BoardError(f"unknown CPU model {self.cpu!r}; choose one of {sorted(CPU_MODELS)}")
        self.folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        if self.root.exists():
            raise BoardError(f"{self.root} exists; a board starts from an empty folder")
        self.root.mkdir()
        r = _run(["tar", "-C", str(self.root), "--numeric-owner", "-xf", str(tarball)])
        if r.returncode != 0:
            raise BoardError(f"unpacking {tarball} failed: {_last_line(r)}")
        say(f"rootfs unpacked in {time.monotonic() - t0:.1f}s")
        probe = _run(["chroot", str(self.root), "/bin/true"], env=_env(self.cpu))
        if probe.returncode != 0:
            raise CannotEmulate(f"arm64 programs do not run here: {_last_line(probe)}")
        self.features = hwcap_names(*emulated_hwcaps(self.root, self.cpu))
        cpuinfo = self.folder / "cpuinfo"
        cpuinfo.write_text(cpuinfo_text(CPU_MODELS[self.cpu], self.features, os.cpu_count() or 1))
        self._keys()
        self.port = self.port or free_port()
        self.agent_port = self.agent_port or free_port()
        (self.root / "etc" / "ssh" / "rigbench_sshd_config").write_text(
            _sshd_config(self.port, self.cpu)
        )
        env = _env(self.cpu)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*PRIVATE_MOUNTS, "sh", "-c", _START, "board",
                 str(self.root), str(cpuinfo)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not sshd directly
            )  # fmt: skip
        try:
            self._wait_for_banner(timeout_s)
        except BaseException:
            self.stop()
            raise
        took = time.monotonic() - t0
        say(f"sshd up on 127.0.0.1:{self.port} (QEMU_CPU={self.cpu}) in {took:.1f}s")
        return self

    def add_recording(self, kind: str = "rpi5", where: str = PI5_ROOT) -> str:
        """Put rigbench's recorded sensor root of ``kind`` (a Pi 5) on the board, at ``where``.

        An agent started with ``--telemetry-root where --simulated`` (the inventory's
        ``ssh.telemetry_root`` and ``ssh.simulated``) then reads the Pi's throttling, PMIC
        power and clocks from the recording, on aarch64, labelled simulated.
        """
        try:
            from rigbench.agent.telemetry.recorded import build_recorded_root
        except ImportError as e:
            raise BoardError(
                f"a recorded sensor root needs rigbench importable ({e}); run this script with "
                "the virtualenv's python (make .venv/.installed-stamp; .venv/bin/python ...)"
            ) from None
        build_recorded_root(kind, TELEMETRY_FIXTURES, self.root / where.lstrip("/"))
        return where

    def _keys(self) -> None:
        ssh = self.root / "etc" / "ssh"
        _keygen(ssh / "ssh_host_ed25519_key")
        _keygen(self.user_key)
        self.known_hosts.write_text("")  # filled once sshd runs
        uid, gid = _ids(self.root, self.user)
        dot = self.root / "home" / self.user / ".ssh"
        dot.mkdir(mode=0o700, exist_ok=True)
        auth = dot / "authorized_keys"
        auth.write_text(Path(f"{self.user_key}.pub").read_text())
        auth.chmod(0o600)
        for p in (dot, auth):
            os.chown(p, uid, gid)
        # The locked account gets the same key: sshd still refuses it (what issue 19 hit).
        luid, lgid = _ids(self.root, LOCKED_USER)
        ldot = self.root / "home" / LOCKED_USER / ".ssh"
        ldot.mkdir(mode=0o700, exist_ok=True)
        (ldot / "authorized_keys").write_text(auth.read_text())
        for p in (ldot, ldot / "authorized_keys"):
            os.chown(p, luid, lgid)

    def _wait_for_banner(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BoardError(f"sshd in the board exited: {self._log_tail()}")
            if not self.namespace:
                with contextlib.suppress(OSError):
                    ns = os.readlink(f"/proc/{self.proc.pid}/ns/mnt")
                    if ns != os.readlink("/proc/self/ns/mnt"):
                        self.namespace = ns
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        self.known_hosts.write_text(self.known_hosts_line())
                        return
            except OSError:
                time.sleep(0.2)
        raise BoardError(f"sshd in the board did not answer in {timeout_s:g}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        text = self.log.read_text(errors="replace").strip() if self.log.exists() else ""
        return " | ".join(text.splitlines()[-5:]) or "(no output)"

    # --- stop ---------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        """Every process of this board: those in its mount namespace."""
        if not self.namespace:
            return [self.proc.pid] if self.proc and self.proc.poll() is None else []
        return namespace_pids(self.namespace)

    def stop(self, timeout_s: float = 15.0) -> None:
        """TERM every process of the board, KILL what is left; the mounts go with them."""
        kill_namespace(self.namespace, timeout_s)
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        """Delete the board's folder, refusing if anything is still mounted under it."""
        mounted = mounts_under(self.folder)
        if mounted:
            raise BoardError(f"not removing {self.folder}: still mounted: {mounted[0]}")
        _remove_tree(self.folder)

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def namespace_pids(namespace: str) -> list[int]:
    pids = []
    me = os.getpid()
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != me:
            with contextlib.suppress(OSError):
                if os.readlink(p / "ns" / "mnt") == namespace:
                    pids.append(int(p.name))
    return pids


def kill_namespace(namespace: str, timeout_s: float = 15.0) -> int:
    """TERM, then KILL, every process in the namespace; returns how many there were."""
    if not namespace or namespace == os.readlink("/proc/self/ns/mnt"):
        return 0
    first = namespace_pids(namespace)
    for pid in first:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while (left := namespace_pids(namespace)) and time.monotonic() < deadline:
        time.sleep(0.1)
    while left:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        left = [p for p in namespace_pids(namespace) if not _zombie(p)]
    return len(first)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def mounts_under(folder: Path) -> list[str]:
    """Mount points in *this* namespace under ``folder`` (a board's live only in its own)."""
    prefix = str(folder.resolve()) + "/"
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            out.append(point)
    return out


def stale_namespaces(folder: Path) -> set[str]:
    """Mount namespaces of processes whose root is inside ``folder`` (boards left running)."""
    prefix = str(folder.resolve()) + "/"
    found = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if (os.readlink(p / "root") + "/").startswith(prefix):
                    found.add(os.readlink(p / "ns" / "mnt"))
    return found


@contextlib.contextmanager
def running_board(folder: Path, cpu: str = DEFAULT_CPU, say=_say) -> Iterator[Board]:
    """Build (or reuse) the rootfs, start a board in ``folder``, and always tear it down."""
    tarball = build_rootfs(say=say)
    board = Board(folder, cpu)
    try:
        yield board.start(tarball, say=say)
    finally:
        board.stop()


# --- command line -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="tools/emulated_board.py",
        description="An emulated arm64 Debian board (qemu-user) with sshd on loopback.",
        epilog="example: sudo python3 tools/emulated_board.py up --inventory board.yaml",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="say whether this machine can emulate a board")
    b = sub.add_parser("build", help="build the cached rootfs tarball")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    up = sub.add_parser("up", help="start a board and keep it up until Ctrl-C")
    up.add_argument("--folder", type=Path, help="where the board lives (default: a temp folder)")
    up.add_argument("--cpu", default=DEFAULT_CPU, choices=sorted(CPU_MODELS))
    up.add_argument("--inventory", type=Path, help="write an inventory.yaml for the board here")
    up.add_argument(
        "--virtual-pi5",
        action="store_true",
        help="a virtual Raspberry Pi 5: the Pi 5's recorded sensors on the board, and an "
        "inventory whose agent reads them (telemetry_root, simulated)",
    )
    up.add_argument("--keep", action="store_true", help="keep the board's folder afterwards")
    down = sub.add_parser("down", help="stop boards left running under a folder")
    down.add_argument("folder", type=Path)
    a = p.parse_args(argv)
    try:
        if a.cmd == "check":
            ensure_support()
            print("emulated board: this machine can run one")
        elif a.cmd == "build":
            print(build_rootfs(force=a.force))
        elif a.cmd == "up":
            return _up(a)
        elif a.cmd == "down":
            n = sum(kill_namespace(ns) for ns in stale_namespaces(a.folder))
            print(f"emulated board: stopped {n} process(es) under {a.folder}")
    except CannotEmulate as e:
        print(f"emulated board: cannot run here: {e}", file=sys.stderr)
        return EXIT_CANNOT
    except BoardError as e:
        print(f"emulated board: error: {e}", file=sys.stderr)
        return 1
    return 0


def _up(a: argparse.Namespace) -> int:
    folder = a.folder or Path(tempfile.mkdtemp(prefix="rigbench-board-"))
    stop = {"now": False}

    def on_signal(signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    board = Board(folder, a.cpu)
    try:
        board.start(build_rootfs())
        if a.inventory:
            if a.virtual_pi5:
                extra = {"telemetry_root": board.add_recording(), "simulated": "true"}
                a.inventory.write_text(board.inventory("pi5-emu", extra, cls="rpi"))
            else:
                a.inventory.write_text(board.inventory())
        print(
            f"board up: ssh -i {board.user_key} -p {board.port} {board.user}@127.0.0.1 "
            f"(host key in {board.known_hosts})"
            + (f"; inventory: {a.inventory}" if a.inventory else "")
            + "; Ctrl-C stops it",
            flush=True,
        )
        while not stop["now"] and board.proc is not None and board.proc.poll() is None:
            time.sleep(0.5)
    finally:
        board.stop()
        if not a.keep:
            board.remove()
        print("board down", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
