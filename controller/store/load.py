"""The store's rows for offline and server jobs: one per load point, one per served request.

A load job's ``results`` row holds its headline point's figures, and ``latency_samples``
that point's requests, as for every job (so rankings, histograms and comparisons read them
unchanged). ``load_points`` has every point of the sweep or the search, ``load_samples``
every served request of every point, the headline's included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only writers need numpy: readers of the store start faster
    import numpy as np

    from rigbench.agent.jobs import LoadResult

Deployment = tuple[str, str, str]  # device, variant, runtime entry


@dataclass(frozen=True)
class LoadPointRow:
    """One stored load point (``load_points``) with its job's deployment, in ms."""

    job_id: str
    device: str
    variant: str
    runtime_name: str
    scenario: str
    kind: str  # offline | server
    point: int
    concurrency: int
    batch_size: int
    threads: int
    target_qps: float | None
    offered_qps: float | None
    achieved_qps: float | None
    samples_per_s: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    percentile: float
    percentile_ms: float | None
    latency_bound_ms: float | None
    bound_held: bool | None
    cpu_util: float | None
    stop_reason: str
    headline: bool
    requests: int
    planned: int

    @property
    def deployment(self) -> Deployment:
        return (self.device, self.variant, self.runtime_name)

    @property
    def complete(self) -> bool:
        """Every scheduled request was served: its percentiles describe the whole point."""
        return self.stop_reason in ("completed", "min_reached") and self.requests >= self.planned

    def latency_ms_at(self, percentile: float) -> float | None:
        if float(percentile) == self.percentile and self.percentile_ms is not None:
            return self.percentile_ms
        return {50.0: self.p50_ms, 90.0: self.p90_ms, 99.0: self.p99_ms}.get(float(percentile))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


LOAD_POINT_COLUMNS = (
    "job_id",
    "point",
    "kind",
    "concurrency",
    "batch_size",
    "threads",
    "target_qps",
    "offered_qps",
    "requests",
    "planned",
    "duration_ns",
    "achieved_qps",
    "samples_per_s",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "mean_ns",
    "max_ns",
    "percentile",
    "percentile_ns",
    "latency_bound_ms",
    "bound_held",
    "cpu_util",
    "cpus",
    "stop_reason",
    "headline",
    "search",
)


@dataclass(frozen=True)
class LoadRecord:
    """A load job's ``load_points`` rows and, per point, its served requests' latencies."""

    points: list[dict[str, Any]] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)


def load_record(job_id: str, load: LoadResult) -> LoadRecord:
    import numpy as np

    from rigbench.controller.store.latency import load_point_stats

    rows, samples = [], []
    for i, p in enumerate(load.points):
        lat = np.asarray(p.latencies_ns, dtype=np.int64)
        figures = load_point_stats(
            lat,
            batch=p.batch,
            duration_ns=max(0, p.end_ns - p.begin_ns),
            cpu_ns=p.cpu_ns,
            cpus=p.cpus,
            percentile=load.percentile,
            planned=p.planned,
            schedule_ns=p.schedule_ns,
        )
        rows.append(
            {
                **figures,
                "job_id": job_id,
                "point": i,
                "kind": load.kind,
                "concurrency": p.concurrency,
                "batch_size": p.batch,
                "threads": p.threads,
                "target_qps": p.target_qps or None,
                "planned": p.planned,
                "percentile": load.percentile,
                "latency_bound_ms": load.latency_bound_ms or None,
                "bound_held": p.held,
                "cpus": p.cpus,
                "stop_reason": p.stop_reason,
                "headline": i == load.headline,
                "search": load.search or None,
            }
        )
        samples.append(lat)
    return LoadRecord(rows, samples)
