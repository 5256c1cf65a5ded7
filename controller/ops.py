"""Which operators a job's time goes to, and which changed between two jobs.

``top`` lists one profiled job's operators by time; ``compare`` lines up two jobs of the same
model (two devices, variants or runtimes) and sorts operators by how much their time per
inference changed. Variants rename and replace nodes (an int8 model runs ``ConvInteger`` where
fp32 ran ``Conv``), so by default two jobs are compared by operator type; ``by="node"`` lines
up nodes by name, for two devices or runtimes running the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rigbench.agent.placement import placement, unit_name
from rigbench.agent.profiling import OpProfile

By = Literal["op_type", "node"]


def per_inference_ms(total_ns: int, profile: OpProfile) -> float:
    return total_ns / max(profile.iterations, 1) / 1e6


def top(profile: OpProfile, n: int) -> list[dict[str, Any]]:
    """The ``n`` operators with the most time, with per-inference time and share."""
    total = sum(r.total_ns for r in profile.rows)
    out = []
    for r in profile.rows[:n] if n > 0 else profile.rows:
        out.append(
            {
                "node": r.node,
                "op_type": r.op_type,
                "exec_unit": unit_name(r.exec_unit),
                "kernel": r.kernel or "",
                "calls": r.calls,
                "mean_us": r.total_ns / r.calls / 1e3 if r.calls else None,
                "ms_per_inference": per_inference_ms(r.total_ns, profile),
                "share_pct": 100.0 * r.total_ns / total if total else None,
            }
        )
    return out


def _by_key(profile: OpProfile, by: By) -> dict[str, tuple[int, int]]:
    """Key -> (total ns, nodes) over the profile."""
    out: dict[str, tuple[int, int]] = {}
    for r in profile.rows:
        key = r.node if by == "node" else r.op_type
        ns, nodes = out.get(key, (0, 0))
        out[key] = (ns + r.total_ns, nodes + 1)
    return out


@dataclass(frozen=True)
class Side:
    label: str
    profile: OpProfile


def compare(a: Side, b: Side, n: int, by: By = "op_type") -> list[dict[str, Any]]:
    """Operators (by type or node) sorted by the change of their time per inference, b - a."""
    ka, kb = _by_key(a.profile, by), _by_key(b.profile, by)
    ta = sum(v[0] for v in ka.values()) or 1
    tb = sum(v[0] for v in kb.values()) or 1
    rows: list[dict[str, Any]] = []
    for key in set(ka) | set(kb):
        na, ca = ka.get(key, (0, 0))
        nb, cb = kb.get(key, (0, 0))
        ms_a = per_inference_ms(na, a.profile) if key in ka else None
        ms_b = per_inference_ms(nb, b.profile) if key in kb else None
        delta = (ms_b or 0.0) - (ms_a or 0.0)
        rows.append(
            {
                by: key,
                "nodes_a": ca,
                "nodes_b": cb,
                "ms_a": ms_a,
                "ms_b": ms_b,
                "delta_ms": delta,
                "ratio": ms_b / ms_a if ms_a and ms_b is not None else None,
                "share_a_pct": 100.0 * na / ta if key in ka else None,
                "share_b_pct": 100.0 * nb / tb if key in kb else None,
            }
        )
    rows.sort(key=lambda r: (-abs(float(r["delta_ms"])), str(r[by])))
    return rows[:n] if n > 0 else rows


def placement_lines(profile: OpProfile, limit: int = 10) -> list[str]:
    """Plain-text placement summary of one profile."""
    if not profile.rows:
        return [f"placement: {profile.note or 'not available: no operator profile'}"]
    p = placement(profile)

    def shares(d: dict[str, float]) -> str:
        return ", ".join(f"{u} {100 * s:.1f}%" for u, s in sorted(d.items(), key=lambda x: -x[1]))

    lines = [
        f"placement: requested {unit_name(p.requested_unit) or 'not available'}; "
        f"time on {shares(p.time_share)}; nodes on {shares(p.node_share)}"
    ]
    if not p.known:
        lines.append("off the requested unit: not available (the runtime does not say per node)")
    elif not p.off_unit:
        lines.append("off the requested unit: none")
    else:
        assert p.off_time_share is not None
        lines.append(
            f"off the requested unit: {len(p.off_unit)} operator(s), "
            f"{100 * p.off_time_share:.1f}% of the time:"
        )
        for r in p.off_unit[:limit]:
            lines.append(f"  {r.node} ({r.op_type}) on {unit_name(r.exec_unit)}")
        if len(p.off_unit) > limit:
            lines.append(f"  ... and {len(p.off_unit) - limit} more")
    return lines
