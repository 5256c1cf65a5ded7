"""The wheels a host gets: rigbench built from this checkout, and, for hosts without a
package index, a wheelhouse of its dependencies for the host's architecture and Python.

The rigbench wheel is built from a copy of the source folders that ``setup.py`` packages:
an in-tree build leaves ``build/lib`` behind, which would carry deleted modules into the
next wheel. A build is identified by the digest of its contents, not of the zip file (whose
timestamps change every build), so "same build already on the host" is a real comparison.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import rigbench
from rigbench import limits
from rigbench.controller.ssh.errors import SshError

SOURCE_PARTS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "README.md",
    "LICENSE",
    "rigbench",
    "agent",
    "controller",
    "reports",
    "protos",
)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
_wheelhouse_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


@dataclass(frozen=True)
class LocalWheel:
    """A rigbench wheel on the controller, with what the installer needs to know about it."""

    path: Path
    version: str
    build_id: str  # digest of the wheel's contents: equal builds, equal ids
    requires: tuple[str, ...]  # Requires-Dist lines, markers included
    extras: tuple[str, ...]  # Provides-Extra

    @property
    def requires_digest(self) -> str:
        """Changes when the dependencies do: a cached wheelhouse is valid while it holds."""
        return hashlib.sha256("\n".join(self.requires).encode()).hexdigest()[:12]


def inspect_wheel(path: Path) -> LocalWheel:
    """Read name, version, dependencies and a content digest from a wheel file."""
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
            if unpacked > limits.WHEEL_BYTES:
                raise SshError(
                    f"{path} unpacks to {limits.human_bytes(unpacked)}, above the limit of "
                    f"{limits.human_bytes(limits.WHEEL_BYTES)} for a rigbench wheel"
                )
            h = hashlib.sha256()
            meta_text = ""
            for name in sorted(z.namelist()):
                data = z.read(name)
                h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
                if name.endswith(".dist-info/METADATA"):
                    meta_text = data.decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile) as e:
        raise SshError(f"{path} is not a readable wheel: {e}") from e
    meta = Parser().parsestr(meta_text)
    if meta.get("Name", "").lower() != "rigbench":
        raise SshError(f"{path} is not a rigbench wheel (Name: {meta.get('Name')!r})")
    return LocalWheel(
        path=path,
        version=meta.get("Version", "?"),
        build_id=h.hexdigest()[:12],
        requires=tuple(meta.get_all("Requires-Dist") or ()),
        extras=tuple(meta.get_all("Provides-Extra") or ()),
    )


def source_root() -> Path | None:
    """The checkout this controller runs from, if it runs from one (editable install)."""
    root = Path(rigbench.__file__).resolve().parent.parent
    return root if (root / "setup.py").exists() and (root / "pyproject.toml").exists() else None


def build_wheel(out_dir: Path, source: Path | None = None) -> LocalWheel:
    """``pip wheel --no-deps`` of the checkout, into ``out_dir/<build id>/``."""
    src = source or source_root()
    if src is None:
        raise SshError(
            "this controller is not running from a rigbench checkout, so there is no wheel to "
            "build; pass --wheel PATH to a rigbench wheel"
        )
    with tempfile.TemporaryDirectory(prefix="rigbench-wheel-") as tmp:
        tree, dist = Path(tmp) / "src", Path(tmp) / "dist"
        tree.mkdir()
        for part in SOURCE_PARTS:
            p = src / part
            if p.is_dir():
                shutil.copytree(p, tree / part, ignore=_IGNORE)
            elif p.is_file():
                shutil.copy2(p, tree / part)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        cmd += ["--disable-pip-version-check", "-q", str(tree), "-w", str(dist)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        built = sorted(dist.glob("rigbench-*.whl"))
        if r.returncode != 0 or not built:
            raise SshError(f"building the rigbench wheel failed:\n{(r.stderr or r.stdout)[-2000:]}")
        info = inspect_wheel(built[0])
        final_dir = out_dir / info.build_id
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / built[0].name
        shutil.copy2(built[0], final)
    return inspect_wheel(final)


def platform_tags(arch: str, libc: str, libc_version: str) -> list[str]:
    """Wheel platform tags a Linux host accepts, newest first, for ``pip download``.

    glibc hosts take ``manylinux_2_<n>`` for every n up to their glibc (plus the legacy
    aliases of the same policies); musl hosts take ``musllinux_1_<n>``.
    """
    if libc == "glibc":
        try:
            major, minor = (int(x) for x in libc_version.split(".")[:2])
        except ValueError:
            major, minor = 2, 17
        oldest = 5 if arch in ("x86_64", "i686") else 17  # no older policy for arm
        tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, oldest - 1, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for m, name in legacy.items():
            if minor >= m and (m == 17 or arch in ("x86_64", "i686")):
                tags.append(f"{name}_{arch}")
        return tags
    return [f"musllinux_1_{m}_{arch}" for m in (2, 1)]


@dataclass
class Wheelhouse:
    """Wheels for one platform key; ``unavailable`` says why an extra could not be had."""

    path: Path
    unavailable: dict[str, str]

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("*.whl") if not p.name.startswith("rigbench-"))


def _lock_for(key: str) -> threading.Lock:
    with _locks_lock:
        return _wheelhouse_locks.setdefault(key, threading.Lock())


def build_wheelhouse(
    wheel: LocalWheel,
    *,
    platform_key: str,
    arch: str,
    libc: str,
    libc_version: str,
    python_short: str,
    extras: list[str],
    cache: Path,
    say: Callable[[str], None],
    refresh: bool = False,
) -> Wheelhouse:
    """Download (once, then cached) the dependencies of rigbench and each extra for a host.

    Each extra is downloaded on its own, so one runtime without wheels for this platform
    (say, no LiteRT for this Python) costs only that runtime. Outcomes are remembered per
    dependency set, failures included, so a second install does not ask the index again.
    """
    path = cache / platform_key
    with _lock_for(platform_key):
        path.mkdir(parents=True, exist_ok=True)
        if refresh:
            for stamp in [*path.glob(".ok-*"), *path.glob(".failed-*")]:
                stamp.unlink()
        unavailable: dict[str, str] = {}
        fetched: list[str] = []
        for group in ["base", *extras]:
            ok = path / f".ok-{group}-{wheel.requires_digest}"
            failed = path / f".failed-{group}-{wheel.requires_digest}"
            if ok.exists():
                continue
            if failed.exists():
                unavailable[group] = failed.read_text().strip()
                continue
            target = str(wheel.path) if group == "base" else f"{wheel.path}[{group}]"
            cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
            cmd += ["--only-binary=:all:", "--implementation", "cp"]
            cmd += ["--python-version", python_short, "--dest", str(path)]
            for tag in platform_tags(arch, libc, libc_version):
                cmd += ["--platform", tag]
            say(f"wheelhouse: downloading {group} dependencies for {platform_key}")
            r = subprocess.run([*cmd, target], capture_output=True, text=True)
            if r.returncode == 0:
                ok.write_text("ok\n")
                fetched.append(group)
                continue
            reason = _pip_reason(r.stderr or r.stdout)
            if group == "base":
                raise SshError(
                    f"cannot download the agent's dependencies for {platform_key}: {reason}"
                )
            failed.write_text(reason + "\n")
            unavailable[group] = reason
        for p in path.glob("rigbench-*.whl"):
            p.unlink()  # the rigbench wheel itself is shipped separately
    if not fetched:
        say(f"wheelhouse: {platform_key} cached in {path}, skipped download")
    return Wheelhouse(path, unavailable)


def _pip_reason(output: str) -> str:
    """The line of pip's output that says why, not the whole resolver transcript."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("ERROR:"):
            return ln.removeprefix("ERROR:").strip()[:300]
    return (lines[-1] if lines else "pip failed")[:300]
