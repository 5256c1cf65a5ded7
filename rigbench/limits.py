"""Every bound rigbench puts on what a user, a file or a client can ask for, in one place.

A number in a plan, an inventory, a command line or a job can exhaust memory or time long
before anything fails on its own: a billion reference samples grow the controller until it
dies, a model declaring an 8 TiB input dies in numpy, a timeout of 1e400 is a wait forever.
Each limit here has a value no real use comes near and the reason it exists, so the error can
name both (``accuracy.samples: 1000000000 is above the limit of 10000 (...)``). docs/limits.md
lists them; the plan and inventory schemas, the CLI and the agent's job edge all read them
from here. This module is part of the agent install: no controller dependencies.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rigbench.errors import InputSpecError, RigbenchError

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
DAY_S = 86_400.0
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Limit:
    """The largest value a setting may take, and why it is bounded at all."""

    maximum: float
    why: str
    minimum: float | None = None  # None: only the maximum is rigbench's own bound

    def problem(self, value: float) -> str | None:
        """Why ``value`` is refused (not a finite number, too large), or None if it is fine."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number"
        if value > self.maximum:
            return f"{_fmt(value)} is above the limit of {_fmt(self.maximum)} ({self.why})"
        if self.minimum is not None and value < self.minimum:
            return f"{_fmt(value)} is below the minimum of {_fmt(self.minimum)}"
        return None

    def at_least(self, minimum: float) -> Limit:
        """The same limit, also refusing values below ``minimum``."""
        return dataclasses.replace(self, minimum=minimum)

    def check(self, what: str, value: float, error: type[RigbenchError]) -> None:
        """Raise ``error`` naming ``what`` (a field, an option) when ``value`` is refused."""
        problem = self.problem(value)
        if problem is not None:
            raise error(f"{what}: {problem}")


def _fmt(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return str(v) if isinstance(v, int) and abs(v) < 10**16 else f"{v:.6g}"


# --- measurement: what one job may ask of a device --------------------------------------------
ITERATIONS = Limit(
    10_000_000,
    "the agent keeps every iteration's latency in memory, ~40 bytes each",
)
DURATION_S = Limit(DAY_S, "one job holds the device; a job longer than a day is a mistake")
THREADS = Limit(1024, "more threads than any device has cores")
TELEMETRY_RATE_HZ = Limit(1000, "sampling sensors faster costs the measured model CPU time")
SEED = Limit(INT64_MAX, "seeds are 64-bit", minimum=0)
RETRIES = Limit(10, "each retry runs the whole job again")
ACCURACY_SAMPLES = Limit(
    10_000,
    "reference inputs and every device's outputs for them are held in memory and sent "
    "over the network",
)
# --- load scenarios (offline and server) -------------------------------------------------------
CONCURRENCY = Limit(
    256, "each executor holds its own copy of the model in memory", minimum=1
)
BATCH = Limit(1 << 20, "a batch's inputs are made and held at once", minimum=1)
QPS = Limit(
    1_000_000, "the server's schedule holds one arrival per request (8 bytes each)", minimum=0
)
LATENCY_BOUND_MS = Limit(DAY_S * 1e3, "a bound longer than a day bounds nothing", minimum=0)
SWEEP_VALUES = 64  # values in one swept list (concurrency, batch, threads): each is a point
SLOWDOWN = Limit(1_000, "each step adds two convolutions to the generated model")
TUNE_BUDGET_S = Limit(
    7 * DAY_S, "a tune holds each device for its whole budget; longer than a week is a mistake"
)
TUNE_CONFIGS = Limit(
    100_000,
    "every configuration of a device's space is measured at least briefly, and the race "
    "holds each one's latencies",
)
ROUNDS = Limit(1_000, "each paired round runs two jobs on the device, a second or more each")

# --- waiting: timeouts and leases --------------------------------------------------------------
TIMEOUT_S = Limit(7 * DAY_S, "a wait longer than a week is a hang, not a timeout")

# --- sizes -------------------------------------------------------------------------------------
AGENT_STORAGE_BYTES = 1 << 50  # an agent's cache, spool or upload size: 1 PiB
TOKEN_FILE_BYTES = 64 * KIB  # a bearer token: one line
WHEEL_BYTES = GIB  # a rigbench wheel unpacked: about 1 MB
CONFIG_FILE_BYTES = 4 * MIB  # a plan or an inventory: a few KB; PyYAML parses ~1 MB/s
YAML_NODES = 200_000  # values after aliases are expanded; a 2000-device inventory has ~40k
YAML_DEPTH = 64  # nesting levels, also after aliases are expanded
INPUT_BYTES = 4 * GIB  # one model input, as generated or read
SAMPLES_BYTES = 2 * GIB  # all reference or calibration samples of one model together
NPZ_BYTES = 8 * GIB  # all arrays of one .npz, as their headers declare them
NPZ_ARRAYS = 100_000  # arrays in one .npz
TENSOR_RANK = 32  # numpy allows 64 dimensions; no model input has more than a handful
INPUT_DIM = Limit(1 << 31, "no tensor dimension is that large", minimum=1)


def human_bytes(n: float) -> str:
    """A byte count as a person reads it: ``8 TiB``, ``3.2 GiB``, ``512 KiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            value = n / size
            text = f"{value:.0f}" if value >= 100 or value.is_integer() else f"{value:.1f}"
            return f"{text} {unit}"
    return f"{int(n)} bytes"


def tensor_nbytes(shape: Sequence[int], dtype_itemsize: int) -> int:
    """Bytes an array of this shape takes: exact integer arithmetic, no overflow."""
    n = dtype_itemsize
    for d in shape:
        n *= max(int(d), 0)
    return n


def available_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable of this machine, or None where it cannot be read (not Linux)."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    m = re.search(r"^MemAvailable:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


class _DType(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def itemsize(self) -> int: ...


def check_input_size(
    name: str,
    shape: Sequence[int],
    dtype: _DType,
    available: int | None = None,
    limit: int = INPUT_BYTES,
) -> int:
    """Refuse, before anything is allocated, one input too large to make or to hold.

    Beyond ``limit``, or beyond ``available`` memory where that is known, the input is the
    model's or the user's fault: an ``InputSpecError`` naming the input, its shape and the
    size, never a MemoryError (or the OOM killer) on the device. Returns the size in bytes.
    """
    if len(shape) > TENSOR_RANK:
        raise InputSpecError(
            f"input {name!r} has rank {len(shape)}; rigbench makes inputs of rank at most "
            f"{TENSOR_RANK}"
        )
    size = tensor_nbytes(shape, dtype.itemsize)
    shape_text = "x".join(str(int(d)) for d in shape) or "scalar"
    what = f"input {name!r} ({dtype.name} {shape_text}) needs {human_bytes(size)}"
    if size > limit:
        raise InputSpecError(
            f"{what}, above the limit of {human_bytes(limit)} per input; give a smaller shape"
        )
    _check_available(what, size, available)
    return size


def check_samples_size(
    count: int, sample_bytes: int, what: str, available: int | None = None
) -> int:
    """Refuse ``count`` samples of ``sample_bytes`` each when together they are too large."""
    total = count * sample_bytes
    text = f"{count} {what} of {human_bytes(sample_bytes)} each need {human_bytes(total)}"
    if total > SAMPLES_BYTES:
        raise InputSpecError(
            f"{text}, above the limit of {human_bytes(SAMPLES_BYTES)}; use fewer samples "
            "or smaller shapes"
        )
    _check_available(text, total, available)
    return total


def _check_available(what: str, size: int, available: int | None) -> None:
    if available is not None and size > available:
        raise InputSpecError(
            f"{what}, more than the {human_bytes(available)} of memory this machine has "
            "available; give a smaller shape"
        )
