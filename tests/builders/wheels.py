"""Wheels for the SSH install tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def rebuilt(wheel: Path, out: Path) -> Path:
    """The same wheel with one file changed (RECORD updated): a new build of one version."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / wheel.name
    changed = "rigbench/__init__.py"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        data = {n: src.read(n) for n in src.namelist()}
        data[changed] += b"\n# rebuilt by test_ssh_install\n"
        digest = base64.urlsafe_b64encode(hashlib.sha256(data[changed]).digest()).rstrip(b"=")
        record = next(n for n in data if n.endswith(".dist-info/RECORD"))
        data[record] = b"\n".join(
            f"{changed},sha256={digest.decode()},{len(data[changed])}".encode()
            if ln.startswith(changed.encode() + b",")
            else ln
            for ln in data[record].split(b"\n")
        )
        for name, body in data.items():
            dst.writestr(name, body)
    return target
