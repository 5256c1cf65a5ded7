"""Where a model ran: share of operator time and of nodes on each execution unit.

Users of every runtime keep asking which operators fell back off the accelerator they asked
for (an ORT CUDA session that runs some nodes on CPU, a TensorRT engine that leaves a layer to
CUDA or CPU, an OpenVINO ``AUTO`` that chose CPU). This reads a job's operator profile and the
unit the job asked for, and says so; nothing here decides whether that is bad.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rigbench.agent.profiling import NOT_AVAILABLE, OpProfile, OpRow

_ANYWHERE = ("AUTO", "MULTI", "HETERO")


# ORT's class names, shortened, as their vendors spell them ('Tensorrt' -> 'TensorRT').
_SPELLING = {"Tensorrt": "TensorRT", "Xnnpack": "XNNPACK", "Dml": "DirectML", "Rocm": "ROCm"}


def _short(unit: str) -> str:
    return unit[: -len("ExecutionProvider")] if unit.endswith("ExecutionProvider") else unit


def unit_name(unit: str) -> str:
    """A short display name: 'CUDAExecutionProvider' -> 'CUDA', 'GPU.0' stays."""
    short = _short(unit)
    return _SPELLING.get(short, short) if short != unit else unit


def on_unit(requested: str, actual: str) -> bool | None:
    """Whether ``actual`` is the unit ``requested`` names; None when that cannot be told."""
    if not requested or not actual or actual == NOT_AVAILABLE:
        return None
    req, act = _short(requested).upper(), _short(actual).upper()
    if req.split(":")[0].split(".")[0] in _ANYWHERE:
        return True  # the job let the runtime choose: every unit is the requested one
    return act == req or act.split(".")[0] == req


@dataclass
class Placement:
    requested_unit: str
    time_share: dict[str, float] = field(default_factory=dict)  # unit -> share of op time
    node_share: dict[str, float] = field(default_factory=dict)  # unit -> share of nodes
    off_unit: list[OpRow] = field(default_factory=list)  # nodes not on the requested unit
    off_time_share: float | None = None  # None: unknown (no profile, or units not reported)

    @property
    def known(self) -> bool:
        return self.off_time_share is not None


def placement(profile: OpProfile) -> Placement:
    """The placement one profile shows."""
    p = Placement(profile.requested_unit)
    rows = profile.rows
    total = sum(r.total_ns for r in rows)
    if not rows:
        return p
    for r in rows:
        u = unit_name(r.exec_unit)
        p.time_share[u] = p.time_share.get(u, 0.0) + (r.total_ns / total if total else 0.0)
        p.node_share[u] = p.node_share.get(u, 0.0) + 1 / len(rows)
    verdicts = [on_unit(profile.requested_unit, r.exec_unit) for r in rows]
    if any(v is None for v in verdicts):
        return p
    p.off_unit = [r for r, ok in zip(rows, verdicts) if not ok]
    off_ns = sum(r.total_ns for r in p.off_unit)
    p.off_time_share = off_ns / total if total else 0.0
    return p
