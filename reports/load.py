"""One line per offline or server job: what it served under load, for `rigbench results`."""

from __future__ import annotations

from typing import Any


def load_line(h: dict[str, Any]) -> str:
    """``server local cnn/fp32 on ort-cpu: peak 96.5 req/s with p99 38 ms <= 50 ms ...``."""
    where = f"{h['scenario']} {h['device']} {h['model']}/{h['variant']} on {h['runtime_name']}"
    cpu = f", CPU {h['cpu_util']:.0%}" if h.get("cpu_util") is not None else ""
    each = f"{h['concurrency']} executor(s) x {h['threads']} thread(s)"
    if h["kind"] == "offline":
        return (
            f"{where}: offline best {h['samples_per_s']:.1f} samples/s at {each}, batch "
            f"{h['batch_size']}{cpu} ({h['points']} point(s))"
        )
    pct = f"p{h['percentile']:g}"
    bound = h.get("latency_bound_ms")
    rate = h.get("offered_qps") or h.get("target_qps") or 0.0
    latency = f"{pct} {h['percentile_ms']:.3g} ms" if h.get("percentile_ms") is not None else ""
    if not bound:
        return f"{where}: {rate:.1f} req/s offered, {latency} (queueing included){cpu}"
    if h.get("bound_held"):
        search = f", search {h['search']}" if h.get("search") else ""
        return (
            f"{where}: peak {rate:.1f} req/s with {latency} <= {bound:g} ms (queueing "
            f"included; {each}{cpu}; {h['points']} point(s){search})"
        )
    return (
        f"{where}: no rate met {pct} <= {bound:g} ms (lowest tried {rate:.1f} req/s: {latency}; "
        f"{h['points']} point(s))"
    )
