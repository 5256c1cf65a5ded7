"""Read an .npz without trusting it: no pickles, and sizes taken from headers before any data.

An .npz arrives from a user (inputs, calibration, reference samples) or over the network. An
array of Python objects is a pickle, which runs code when loaded: it is refused with a message
saying so, never unpickled. Each array's header declares its shape and dtype; their sizes are
added up before a single array is read, so a file declaring terabytes (or a zip bomb) is
refused in microseconds instead of meeting a MemoryError. A file that is not a zip, is
truncated, or holds something other than arrays gets one ``InputSpecError`` line naming it.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from rigbench import limits
from rigbench.errors import InputSpecError

_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _header(f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    fmt: Any = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(f)
    else:  # 3.0 (utf-8 field names): numpy reads it only through its private helper
        shape, _, dtype = fmt._read_array_header(f, version)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def array_headers(
    source: Path | bytes, what: str, max_bytes: int = limits.NPZ_BYTES
) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Each array's shape and dtype, read from the headers only, every bound checked."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as zf:
            members = zf.namelist()
            if len(members) > limits.NPZ_ARRAYS:
                raise InputSpecError(
                    f"{what} holds {len(members)} entries, above the limit of "
                    f"{limits.NPZ_ARRAYS} arrays"
                )
            out: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
            total = 0
            for member in members:
                key = member[: -len(".npy")] if member.endswith(".npy") else member
                if not member.endswith(".npy"):
                    raise InputSpecError(
                        f"{what} holds {member!r}, which is not a .npy array; "
                        "save the arrays with numpy.savez"
                    )
                with zf.open(member) as f:
                    shape, dtype = _header(f)
                if dtype.hasobject:
                    raise InputSpecError(
                        f"{what}: array {key!r} holds Python objects (a pickle), which rigbench "
                        "never loads; save plain numeric arrays"
                    )
                total += limits.tensor_nbytes(shape, dtype.itemsize)
                if total > max_bytes:
                    raise InputSpecError(
                        f"{what}: array {key!r} ({dtype.name} "
                        f"{'x'.join(map(str, shape)) or 'scalar'}) brings the arrays to "
                        f"{limits.human_bytes(total)}, above the limit of "
                        f"{limits.human_bytes(max_bytes)}"
                    )
                out[key] = (shape, dtype)
            return out
    except InputSpecError:
        raise
    except zipfile.BadZipFile as e:
        raise InputSpecError(
            f"{what} is not an .npz file, or is truncated (not a readable zip archive)"
        ) from e
    except _READ_ERRORS as e:
        raise InputSpecError(f"cannot read {what} as .npz: {_one_line(e)}") from e


def read_npz(
    source: Path | bytes, what: str, max_bytes: int = limits.NPZ_BYTES
) -> dict[str, np.ndarray]:
    """The arrays of an .npz (file or bytes), after ``array_headers`` accepted them."""
    array_headers(source, what, max_bytes)
    try:
        with np.load(
            io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False
        ) as z:
            return {k: z[k] for k in z.files}
    except _READ_ERRORS as e:
        raise InputSpecError(f"cannot read {what} as .npz: {_one_line(e)}") from e


def read_npy(path: Path, what: str, max_bytes: int = limits.NPZ_BYTES) -> np.ndarray:
    """One .npy array, its header checked first (no objects, bounded size)."""
    try:
        with open(path, "rb") as f:
            shape, dtype = _header(f)
    except _READ_ERRORS as e:
        raise InputSpecError(f"cannot read {what} as .npy: {_one_line(e)}") from e
    if dtype.hasobject:
        raise InputSpecError(
            f"{what} holds Python objects (a pickle), which rigbench never loads; "
            "save a plain numeric array"
        )
    size = limits.tensor_nbytes(shape, dtype.itemsize)
    if size > max_bytes:
        raise InputSpecError(
            f"{what} ({dtype.name} {'x'.join(map(str, shape)) or 'scalar'}) needs "
            f"{limits.human_bytes(size)}, above the limit of {limits.human_bytes(max_bytes)}"
        )
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as e:
        raise InputSpecError(f"cannot read {what} as .npy: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
