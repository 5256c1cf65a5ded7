"""Per-operator profiles: where a model's time goes, operator by operator, and on which unit.

A profile is taken in a separate short pass after the timed loop, on a separately created
session or compiled model with the runtime's profiler on, so the timed iterations are never
profiled. Each runtime's adapter produces ``OpRow``s from its own profiler (ONNX Runtime's
``enable_profiling`` JSON, OpenVINO's performance counters); the parsers of those formats live
here as pure functions, so they are tested on captured output without the runtime or its
hardware. A runtime whose API exposes no per-operator timing says so in ``note``; a figure it
cannot give is never zero.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class OpRow:
    """One operator (graph node) summed over the profiling pass."""

    node: str
    op_type: str
    exec_unit: str  # ORT execution provider, OpenVINO device, LiteRT delegate; or NOT_AVAILABLE
    kernel: (
        str  # the implementation that ran it (OpenVINO exec type: jit_avx2, ref...); "" if unsaid
    )
    calls: int
    total_ns: int


@dataclass
class OpProfile:
    """What the profiling pass of one job found."""

    requested_unit: str  # the provider/device the job asked for first
    iterations: int = 0
    wall_ns: int = 0  # the profiling pass's own duration (its cost to the job)
    rows: list[OpRow] = field(default_factory=list)
    note: str = ""  # why there are no rows, or what to know about them

    def to_json_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> OpProfile:
        return cls(
            requested_unit=d["requested_unit"],
            iterations=int(d["iterations"]),
            wall_ns=int(d["wall_ns"]),
            rows=[OpRow(**r) for r in d["rows"]],
            note=d.get("note", ""),
        )


def profile_iterations(p50_ns: float, budget_ns: float = 2e9, most: int = 50) -> int:
    """How many profiled runs: about ``budget_ns`` of them, at least 3, at most ``most``."""
    if p50_ns * most <= budget_ns:
        return most
    return max(3, int(budget_ns // p50_ns))


class _Acc:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], list[int]] = {}

    def add(self, node: str, op_type: str, unit: str, kernel: str, ns: int) -> None:
        cell = self.rows.setdefault((node, op_type, unit, kernel), [0, 0])
        cell[0] += 1
        cell[1] += ns

    def result(self) -> list[OpRow]:
        out = [OpRow(n, t, u, k, c, ns) for (n, t, u, k), (c, ns) in self.rows.items()]
        return sorted(out, key=lambda r: (-r.total_ns, r.node))


# --- ONNX Runtime: the enable_profiling JSON (Chrome trace format) ---------------------------

_KERNEL_SUFFIX = "_kernel_time"


def parse_ort_profile(events: Iterable[dict[str, Any]], skip_runs: int = 0) -> list[OpRow]:
    """Per-node rows from ONNX Runtime's profile events.

    Each executed node appears once per run as ``{"cat": "Node", "name": "<node>_kernel_time",
    "dur": <µs>, "args": {"op_name": ..., "provider": ...}}``; ``_fence_before``/``_fence_after``
    and ``Session`` events are not node time. A node a provider fused into one subgraph (a
    TensorRT engine, an OpenVINO EP partition) is one row, named as ORT names it. The first
    ``skip_runs`` occurrences of each node (warm-up runs) are left out.
    """
    acc = _Acc()
    kernels = [
        e
        for e in events
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith(_KERNEL_SUFFIX)
    ]
    seen: dict[str, int] = {}
    for e in sorted(kernels, key=lambda e: float(e.get("ts", 0))):
        name = str(e["name"])
        seen[name] = seen.get(name, 0) + 1
        if seen[name] <= skip_runs:
            continue
        args = e.get("args") or {}
        acc.add(
            name[: -len(_KERNEL_SUFFIX)],
            str(args.get("op_name") or NOT_AVAILABLE),
            str(args.get("provider") or NOT_AVAILABLE),
            "",
            int(round(float(e.get("dur", 0)) * 1000)),
        )
    return acc.result()


def load_ort_profile(text: str) -> list[dict[str, Any]]:
    """The events of a profile file (a JSON list, or an object with ``traceEvents``)."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("traceEvents", [])
    if not isinstance(data, list):
        raise ValueError("an ONNX Runtime profile is a JSON list of events")
    return [e for e in data if isinstance(e, dict)]


# --- OpenVINO: performance counters (ProfilingInfo per node and inference) -------------------


def ov_counter_rows(counters: Iterable[Any], device: str, acc: _Acc | None = None) -> _Acc:
    """Add one inference's performance counters (``InferRequest.get_profiling_info()``).

    Only nodes with status EXECUTED ran; OPTIMIZED_OUT and NOT_RUN nodes were fused into a
    neighbour or are inputs/constants, and their time is in the node that ran them.
    """
    acc = acc or _Acc()
    for c in counters:
        status = str(getattr(c, "status", "EXECUTED")).rsplit(".", 1)[-1]
        if status != "EXECUTED":
            continue
        real = c.real_time
        ns = int(real.total_seconds() * 1e9) if hasattr(real, "total_seconds") else int(real)
        acc.add(str(c.node_name), str(c.node_type), device, str(c.exec_type), ns)
    return acc
