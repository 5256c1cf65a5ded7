"""How much load a deployment serves, from its offline and server measurements.

A deployment (device x variant x runtime entry) may have been measured under load by an
offline sweep or a server scenario (``agent/load``). Those measurements are its capacity,
and they replace what single-stream can only suggest:

* **server, under a bound**: the highest rate the device served among the server points
  whose latency percentile, queueing included, met the bound. The rate is the one the
  Poisson schedule realised (arrivals over the time to the last one, as MLPerf LoadGen's
  "scheduled samples per second"). Only points that served every scheduled request count: a
  point stopped early once the bound was lost, or left with requests queued, says nothing
  about other bounds. The bound is the one asked for (``--latency-ms`` at
  ``--percentile``), so a search run for a 50 ms bound also answers for 80 ms from the same
  points (but is conservative there: the search did not look above its own peak).
* **server, without a bound asked**: the scenario's own peak (the highest rate that met its
  ``latency_ms``).
* **offline**: the most samples per second of the sweep: throughput with requests queued back
  to back, no latency promised.

Pure: the points (``LoadPointRow``, declared with the load tables in ``controller/store/load.py``)
come from ``controller/store/ranking.py``'s ``load_points``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rigbench.controller.store.load import Deployment as Deployment
from rigbench.controller.store.load import LoadPointRow as LoadPointRow


@dataclass(frozen=True)
class Capacity:
    """A deployment's measured capacity and what it was measured under."""

    ips: float  # samples (inferences) per second
    kind: str  # server | offline
    point: LoadPointRow
    latency_ms: float | None = None  # server: the bound it met ...
    percentile: float | None = None  # ... at this percentile, queueing included

    @property
    def short(self) -> str:
        return self.kind

    def describe(self) -> str:
        p = self.point
        if self.kind == "server":
            assert self.latency_ms is not None and self.percentile is not None
            got = p.latency_ms_at(self.percentile)
            return (
                f"measured: server scenario {p.scenario!r}, {self.ips:.4g} inf/s served with "
                f"p{self.percentile:g} {got:.3g} ms <= {self.latency_ms:g} ms (queueing "
                f"included; concurrency {p.concurrency}, {p.threads} thread(s) each)"
            )
        return (
            f"measured: offline scenario {p.scenario!r}, {self.ips:.4g} samples/s at "
            f"concurrency {p.concurrency}, batch {p.batch_size}, {p.threads} thread(s) each "
            "(queued back to back: no latency promised)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ips": self.ips,
            "kind": self.kind,
            "job_id": self.point.job_id,
            "scenario": self.point.scenario,
            "point": self.point.point,
            "latency_ms": self.latency_ms,
            "percentile": self.percentile,
            "describe": self.describe(),
        }


def by_deployment(points: Iterable[LoadPointRow]) -> dict[Deployment, list[LoadPointRow]]:
    out: dict[Deployment, list[LoadPointRow]] = {}
    for p in points:
        out.setdefault(p.deployment, []).append(p)
    return out


def server_capacity(
    points: Sequence[LoadPointRow], latency_ms: float, percentile: float
) -> Capacity | None:
    """The highest rate served by a complete server point whose percentile met the bound."""
    ok = [
        p
        for p in points
        if p.kind == "server"
        and p.complete
        and p.offered_qps
        and (v := p.latency_ms_at(percentile)) is not None
        and v <= latency_ms
    ]
    if not ok:
        return None
    best = max(ok, key=lambda p: p.offered_qps or 0.0)
    assert best.offered_qps is not None
    return Capacity(best.offered_qps * best.batch_size, "server", best, latency_ms, percentile)


def own_peak(points: Sequence[LoadPointRow]) -> Capacity | None:
    """A server scenario's own peak: the highest rate that met its own bound."""
    held = [p for p in points if p.kind == "server" and p.bound_held and p.offered_qps]
    if not held:
        return None
    best = max(held, key=lambda p: p.offered_qps or 0.0)
    assert best.offered_qps is not None and best.latency_bound_ms is not None
    return Capacity(
        best.offered_qps * best.batch_size,
        "server",
        best,
        best.latency_bound_ms,
        best.percentile,
    )


def offline_capacity(points: Sequence[LoadPointRow]) -> Capacity | None:
    best = [p for p in points if p.kind == "offline" and p.samples_per_s]
    if not best:
        return None
    top = max(best, key=lambda p: p.samples_per_s or 0.0)
    assert top.samples_per_s is not None
    return Capacity(top.samples_per_s, "offline", top)


def deployment_capacity(
    points: Sequence[LoadPointRow], latency_ms: float | None, percentile: float
) -> Capacity | None:
    """What a deployment is measured to serve: server (under ``latency_ms`` when given, else
    under its own bound), else offline; None when it was never measured under load.
    """
    server = (
        server_capacity(points, latency_ms, percentile)
        if latency_ms is not None
        else own_peak(points)
    )
    return server or offline_capacity(points)
