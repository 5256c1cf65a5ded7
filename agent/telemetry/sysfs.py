"""Reading sysfs/procfs files below a configurable root, with sensor failures as `TelemetryError`.

Backends never open `/sys/...` directly: they ask for `under(root, "/sys/...")`, so a test or a
recorded device points them at a tree built from captured values. Sysfs reads fail in ways a
sampler must survive (the file vanished, EIO from a sleeping I2C chip, EACCES on a root-only
counter, garbage text); each becomes one `TelemetryError` naming the file.
"""

from __future__ import annotations

import errno
from pathlib import Path

from rigbench.errors import TelemetryError


def under(root: Path, absolute: str) -> Path:
    """Map an absolute system path (`/sys/class/thermal`) into `root`."""
    return root / absolute.lstrip("/")


def read_text(path: Path) -> str:
    """The stripped content of a sysfs file."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except PermissionError as e:
        raise TelemetryError(f"{path}: permission denied") from e
    except FileNotFoundError as e:
        raise TelemetryError(f"{path}: no such file (sensor disappeared?)") from e
    except OSError as e:
        reason = errno.errorcode.get(e.errno or 0, str(e))
        raise TelemetryError(f"{path}: read failed ({reason})") from e


def read_int(path: Path) -> int:
    """A sysfs file holding one integer (64-bit values such as RAPL's stay exact)."""
    text = read_text(path)
    try:
        return int(text)
    except ValueError as e:
        raise TelemetryError(f"{path}: expected an integer, got {text[:40]!r}") from e


def is_permission_denied(path: Path) -> bool:
    """True when reading `path` fails with EACCES/EPERM (e.g. RAPL `energy_uj` as non-root)."""
    try:
        with path.open("rb") as f:
            f.read(1)
    except PermissionError:
        return True
    except OSError:
        return False
    return False
