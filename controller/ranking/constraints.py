"""Constraints a deployment choice must meet, and why a choice was excluded.

When nothing qualifies, "no result" is useless: the reader needs to know which constraint
excluded what, so every check returns a reason naming the constraint and the figures.
A figure that was not measured fails a constraint on it (it cannot be shown to be met),
except throttling: a device with no throttle sensor is kept and its throttle column says
"n/a", because excluding every sensorless device would empty most labs' rankings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Constraints:
    """What a choice must meet; None means "no constraint on this"."""

    latency_ms: float | None = None
    percentile: int = 99
    min_throughput_ips: float | None = None
    max_error: float | None = None  # max abs error vs the fp32 source, overall ('*') row
    max_memory_mb: float | None = None
    no_throttling: bool = False
    # Results from an emulated device (qemu-user) are refused unless asked for: their
    # speed, and any cost or fleet size derived from it, say nothing about real hardware.
    allow_emulated: bool = False

    def __post_init__(self) -> None:
        if self.percentile not in PERCENTILES:
            raise ValueError(f"percentile must be one of {PERCENTILES}, got {self.percentile}")

    def describe(self) -> list[str]:
        """Human-readable list of the active constraints."""
        out = []
        if self.latency_ms is not None:
            out.append(f"p{self.percentile} latency <= {self.latency_ms:g} ms at batch 1")
        if self.min_throughput_ips is not None:
            out.append(
                f"throughput >= {self.min_throughput_ips:g} inf/s (measured under load where an "
                "offline or server scenario ran, else single-stream)"
            )
        if self.max_error is not None:
            out.append(f"max abs error <= {self.max_error:g} (vs the fp32 source)")
        if self.max_memory_mb is not None:
            out.append(f"peak RSS <= {self.max_memory_mb:g} MB")
        if self.no_throttling:
            out.append("no throttling observed")
        if self.allow_emulated:
            out.append("emulated devices included (--allow-emulated)")
        out.append(
            "within the plan's accuracy tolerance (where the plan set one; unknown accuracy "
            "does not pass)"
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "percentile": self.percentile,
            "min_throughput_ips": self.min_throughput_ips,
            "max_error": self.max_error,
            "max_memory_mb": self.max_memory_mb,
            "no_throttling": self.no_throttling,
            "allow_emulated": self.allow_emulated,
        }


@dataclass(frozen=True)
class Exclusion:
    """One constraint a choice failed, with the figures that failed it."""

    constraint: str  # latency | throughput | accuracy | memory | throttling | emulated
    detail: str


def check(row: dict[str, Any], c: Constraints) -> list[Exclusion]:
    """Every constraint ``row`` (a ranking row's figures) fails; empty when it qualifies."""
    out: list[Exclusion] = []
    if row.get("emulated") and not c.allow_emulated:
        out.append(
            Exclusion(
                "emulated",
                "measured under user-mode emulation (qemu-user): its speed and cost say nothing "
                "about a real device (--allow-emulated to include it)",
            )
        )
    if c.latency_ms is not None:
        out.extend(_latency(row, c))
    if c.min_throughput_ips is not None:
        ips = row.get("throughput_ips")
        basis = row.get("throughput_basis")
        where = f" ({basis})" if basis else ""
        if ips is None:
            out.append(Exclusion("throughput", "throughput not measured"))
        elif ips < c.min_throughput_ips:
            out.append(
                Exclusion(
                    "throughput", f"{ips:.4g} inf/s{where} < {c.min_throughput_ips:g} inf/s"
                )
            )
    out.extend(_accuracy(row, c))
    if c.max_memory_mb is not None:
        rss = row.get("peak_rss_mb")
        if rss is None:
            out.append(Exclusion("memory", "peak RSS not measured"))
        elif rss > c.max_memory_mb:
            out.append(Exclusion("memory", f"peak RSS {rss:.1f} MB > {c.max_memory_mb:g} MB"))
    if c.no_throttling and row.get("throttled"):
        reasons = row.get("throttle_reasons") or []
        why = f" ({', '.join(reasons)})" if reasons else ""
        out.append(Exclusion("throttling", f"throttled{why}"))
    return out


def _latency(row: dict[str, Any], c: Constraints) -> list[Exclusion]:
    batch = row.get("batch_size")
    if batch is not None and batch > 1:
        return [Exclusion("latency", f"batch {batch}: the latency target applies at batch 1")]
    value = row.get(f"p{c.percentile}_ms")
    if value is None:
        return [Exclusion("latency", f"p{c.percentile} not measured")]
    assert c.latency_ms is not None
    if value > c.latency_ms:
        return [Exclusion("latency", f"p{c.percentile} {value:.3g} ms > {c.latency_ms:g} ms")]
    return []


def _accuracy(row: dict[str, Any], c: Constraints) -> list[Exclusion]:
    """Unknown accuracy never passes an accuracy constraint: it cannot be shown to be met."""
    out = []
    unknown = row.get("accuracy_unknown")
    if unknown and (row.get("has_tolerance") or c.max_error is not None):
        out.append(Exclusion("accuracy", f"accuracy unknown: {unknown}"))
        return out
    if row.get("within_tolerance") is False:
        reasons = row.get("accuracy_reasons") or "see `rigbench results`"
        out.append(Exclusion("accuracy", f"outside the plan's tolerance: {reasons}"))
    if c.max_error is not None:
        err = row.get("max_abs_err")
        if err is None:
            out.append(Exclusion("accuracy", "accuracy not measured"))
        elif math.isnan(err) or err > c.max_error:
            out.append(Exclusion("accuracy", f"max abs error {err:.3g} > {c.max_error:g}"))
    return out
