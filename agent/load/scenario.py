"""The worker's side of the offline and server scenarios: executors, batches, sweep, search.

For each load point the worker loads ``concurrency`` copies of the model (each with its
share of the intra-op threads), binds the inputs (batched when asked), warms every executor
up together, and serves requests with ``engine``. Every served request's latency is kept.

* **offline**: every combination of threads x concurrency x batch is one point; requests
  are queued back to back until the measurement's minimum count and duration are reached.
  The headline is the point with the most samples per second.
* **server**: Poisson arrivals at ``qps`` for ``duration_s``; with a latency bound, whether
  the percentile met it. ``qps`` 0 (the plan's ``auto``) searches for the peak: a short
  back-to-back burst estimates the executors' capacity, then ``search.find_peak`` runs
  points, each stopping as soon as the bound is lost.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from rigbench.agent.jobs import (
    OFFLINE,
    InputOverride,
    LoadConfig,
    LoadPoint,
    LoadResult,
    MeasurementConfig,
)
from rigbench.agent.load.arrivals import poisson_arrivals_ns
from rigbench.agent.load.engine import (
    BOUND_LOST,
    MAX_DURATION,
    Call,
    Served,
    serve_schedule,
    serve_standing_queue,
    warm_up,
)
from rigbench.agent.load.search import Step, find_peak
from rigbench.agent.runtimes.base import LoadedModel, TensorSpec
from rigbench.errors import InputSpecError
from rigbench.limits import available_memory_bytes, check_input_size

ProgressFn = Callable[[str, int, int], None]  # phase, served, elapsed_ns
OpenModel = Callable[[int], LoadedModel]  # intra-op threads -> a freshly loaded model

# The capacity probe before a peak search: back to back, this long at most.
_PROBE_S = 0.5
_PROBE_REQUESTS = 8  # per executor, at least


@dataclass
class LoadRun:
    """A load job's outcome, with what the job reports beside its points."""

    result: LoadResult
    first_inference_ns: int
    warmup_iterations: int

    @property
    def headline(self) -> LoadPoint:
        return self.result.points[self.result.headline]


def cpus_available() -> int:
    """CPUs this process may run on (its affinity where the OS says, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def executor_threads(total: int, concurrency: int) -> int:
    """Each executor's intra-op threads: the total split evenly, at least one each."""
    return max(1, total // concurrency)


def percentile_ns(latencies_ns: Sequence[int] | np.ndarray, percentile: float) -> float:
    """Linear-interpolation percentile (numpy's default; the controller's stored figures)."""
    return float(np.percentile(np.asarray(latencies_ns, dtype=np.int64), percentile))


def batch_of(specs: Sequence[TensorSpec], feeds: dict[str, np.ndarray]) -> int:
    """Samples in one request as built: the first dimension of the first input that has one."""
    for s in specs:
        arr = feeds[s.name]
        if arr.ndim >= 1:
            return int(arr.shape[0])
    return 1


def batch_one(
    specs: Sequence[TensorSpec], overrides: Sequence[InputOverride]
) -> tuple[InputOverride, ...]:
    """The overrides with one row for every input whose only unresolved dimension is the
    first: with ``batch`` given, a dynamic first dimension is the batch, so nobody has to
    spell its size out (the inputs are built with one row, then batched).
    """
    given = {o.name: o for o in overrides}
    out = list(overrides)
    for s in specs:
        o = given.get(s.name)
        if not s.shape or isinstance(s.shape[0], int) or (o is not None and o.shape):
            continue
        if not all(isinstance(d, int) for d in s.shape[1:]):
            continue  # other dynamic dimensions: the user's to give
        shape = (1, *(int(d) for d in s.shape[1:] if isinstance(d, int)))
        if o is None:
            out.append(InputOverride(s.name, shape=shape))
        else:
            out[out.index(o)] = dataclasses.replace(o, shape=shape)
    return tuple(out)


def check_batches(specs: Sequence[TensorSpec], batches: Sequence[int]) -> None:
    """Refuse, before anything runs, a batch an input's fixed first dimension cannot take."""
    for b in batches:
        for s in specs:
            if not s.shape:
                continue  # a scalar input is not batched
            first = s.shape[0]
            if isinstance(first, int) and first != b:
                shape = "[" + ", ".join("?" if not isinstance(d, int) else str(d) for d in s.shape)
                raise InputSpecError(
                    f"batch {b}: input {s.name!r} has a fixed first dimension of {first} (the "
                    f"model declares {shape}]); batching needs a dynamic first dimension: "
                    f"leave batch out, give batch: [{first}], or export the model with a "
                    "dynamic batch"
                )


def batched(
    specs: Sequence[TensorSpec], feeds: dict[str, np.ndarray], batch: int
) -> dict[str, np.ndarray]:
    """The job's inputs with ``batch`` rows: each input's rows repeated (a runtime's speed does
    not depend on which values a row holds); scalar inputs as they are.
    """
    out = {}
    for s in specs:
        arr = feeds[s.name]
        if arr.ndim == 0 or arr.shape[0] == batch:
            out[s.name] = arr
            continue
        shape = (batch, *arr.shape[1:])
        check_input_size(s.name, shape, arr.dtype, available_memory_bytes())
        reps = math.ceil(batch / max(arr.shape[0], 1))
        out[s.name] = np.ascontiguousarray(np.concatenate([arr] * reps, axis=0)[:batch])
    return out


def to_point(
    served: Served,
    *,
    concurrency: int,
    batch: int,
    threads: int,
    target_qps: float,
    bound_ns: float | None,
    percentile: float,
    cpus: int,
) -> LoadPoint:
    # Server: from the scheduled arrival. Offline: everything arrived at once, so the time
    # from arrival only says how many came before; each request's own run is its latency.
    lat = served.service_ns() if target_qps == 0 else served.latencies_ns()
    held: bool | None = None
    if bound_ns is not None:
        complete = served.stop_reason not in (BOUND_LOST, MAX_DURATION)
        held = bool(complete and lat.size and percentile_ns(lat, percentile) <= bound_ns)
    return LoadPoint(
        concurrency=concurrency,
        batch=batch,
        threads=threads,
        target_qps=target_qps,
        latencies_ns=lat.tolist(),
        planned=served.planned,
        begin_ns=served.begin_ns,
        end_ns=served.finish_ns,
        cpu_ns=served.cpu_ns,
        cpus=cpus,
        stop_reason=served.stop_reason,
        held=held,
        schedule_ns=served.schedule_ns,
    )


def requests_per_s(p: LoadPoint) -> float:
    wall = p.end_ns - p.begin_ns
    return len(p.latencies_ns) / (wall / 1e9) if wall > 0 else 0.0


@contextmanager
def _executors(
    open_model: OpenModel, concurrency: int, threads: int
) -> Iterator[list[LoadedModel]]:
    models: list[LoadedModel] = []
    try:
        for _ in range(concurrency):
            models.append(open_model(threads))
        yield models
    finally:
        for m in models:
            m.close()


class _First:
    """Times the job's very first inference, once."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self, call: Call) -> None:
        if self.ns == 0:
            t0 = time.perf_counter_ns()
            call()
            self.ns = max(1, time.perf_counter_ns() - t0)


def run_load(
    cfg: LoadConfig,
    measurement: MeasurementConfig,
    runtime_threads: int,
    open_model: OpenModel,
    specs: Sequence[TensorSpec],
    feeds: dict[str, np.ndarray],
    progress: ProgressFn,
) -> LoadRun:
    """Run an offline sweep or a server load (see the module docstring)."""
    check_batches(specs, cfg.batch)
    cpus = cpus_available()
    totals = list(cfg.threads) or [runtime_threads or cpus]
    duration_s = cfg.duration_s or measurement.min_duration_s
    first = _First()
    warm = 0
    points: list[LoadPoint] = []
    if cfg.kind == OFFLINE:
        for total in totals:
            for c in cfg.concurrency:
                t = executor_threads(total, c)
                with _executors(open_model, c, t) as models:
                    for b in cfg.batch or [None]:
                        f = batched(specs, feeds, b) if b is not None else feeds
                        calls = [m.prepare(f) for m in models]
                        first(calls[0])
                        warm = warm_up(calls, measurement.warmup_iterations, measurement.warmup_s)
                        batch = b if b is not None else batch_of(specs, feeds)
                        phase = f"offline c{c} b{batch} t{t}"
                        progress(phase, 0, 0)
                        served = serve_standing_queue(
                            calls,
                            min_requests=measurement.min_iterations,
                            min_s=duration_s,
                            max_requests=measurement.max_iterations,
                            max_s=max(measurement.max_duration_s, duration_s),
                            progress=functools.partial(progress, phase),
                        )
                        points.append(
                            to_point(
                                served,
                                concurrency=c,
                                batch=batch,
                                threads=t,
                                target_qps=0.0,
                                bound_ns=None,
                                percentile=cfg.percentile,
                                cpus=cpus,
                            )
                        )
        best = max(range(len(points)), key=lambda i: requests_per_s(points[i]) * points[i].batch)
        return LoadRun(LoadResult(OFFLINE, points, best, percentile=cfg.percentile), first.ns, warm)
    return _server(cfg, measurement, totals[0], open_model, specs, feeds, progress, cpus, first)


def _server(
    cfg: LoadConfig,
    measurement: MeasurementConfig,
    total_threads: int,
    open_model: OpenModel,
    specs: Sequence[TensorSpec],
    feeds: dict[str, np.ndarray],
    progress: ProgressFn,
    cpus: int,
    first: _First,
) -> LoadRun:
    c = cfg.concurrency[0]
    t = executor_threads(total_threads, c)
    duration_s = cfg.duration_s or measurement.min_duration_s
    bound_ns = cfg.latency_ms * 1e6 if cfg.latency_ms > 0 else None
    batch = batch_of(specs, feeds)
    points: list[LoadPoint] = []
    with _executors(open_model, c, t) as models:
        calls = [m.prepare(feeds) for m in models]
        first(calls[0])
        warm = warm_up(calls, measurement.warmup_iterations, measurement.warmup_s)

        def point(qps: float, search: bool) -> LoadPoint:
            phase = f"server {qps:.4g} qps"
            progress(phase, 0, 0)
            horizon_s, max_s = server_point_window(qps, duration_s, measurement)
            offsets = poisson_arrivals_ns(qps, horizon_s, 1, measurement.seed + len(points))
            served = serve_schedule(
                calls,
                offsets,
                bound_ns=int(bound_ns) if (search and bound_ns is not None) else None,
                percentile=cfg.percentile,
                max_s=max_s,
                progress=functools.partial(progress, phase),
            )
            p = to_point(
                served,
                concurrency=c,
                batch=batch,
                threads=t,
                target_qps=qps,
                bound_ns=bound_ns,
                percentile=cfg.percentile,
                cpus=cpus,
            )
            points.append(p)
            return p

        if cfg.qps > 0:
            point(cfg.qps, search=False)
            return LoadRun(_server_result(cfg, points, 0, ""), first.ns, warm)
        progress("server capacity probe", 0, 0)
        probe = serve_standing_queue(
            calls,
            min_requests=_PROBE_REQUESTS * c,
            min_s=min(_PROBE_S, duration_s),
            max_requests=measurement.max_iterations,
            max_s=max(_PROBE_S, duration_s),
        )
        capacity = probe.served.sum() / max((probe.finish_ns - probe.begin_ns) / 1e9, 1e-9)

        def step(qps: float) -> Step:
            p = point(qps, search=True)
            offered = p.planned / (p.schedule_ns / 1e9) if p.schedule_ns > 0 else qps
            return Step(qps, offered, bool(p.held))

        search = find_peak(step, 0.9 * float(capacity))
    peak = search.peak
    if peak is not None:
        headline = max(
            (i for i, p in enumerate(points) if p.held), key=lambda i: points[i].target_qps
        )
    else:
        headline = min(range(len(points)), key=lambda i: points[i].target_qps)
    return LoadRun(_server_result(cfg, points, headline, search.reason), first.ns, warm)


def server_point_window(
    qps: float, duration_s: float, measurement: MeasurementConfig
) -> tuple[float, float]:
    """How long a server point schedules arrivals, and when it stops taking requests.

    Arrivals span ``duration_s``, longer when that many seconds at ``qps`` would not bring
    ``min_iterations`` requests, but at most half of ``max_duration_s``: a low rate must not
    hold the device for min_iterations / qps seconds. Requests still queued ``max(
    max_duration_s, 2 x horizon)`` after the start are left unserved: an overloaded rate would
    otherwise drain its backlog for as long again as it ran.
    """
    horizon = max(duration_s, measurement.min_iterations / qps)
    horizon = min(horizon, max(duration_s, measurement.max_duration_s / 2))
    return horizon, max(measurement.max_duration_s, 2 * horizon)


def _server_result(
    cfg: LoadConfig, points: list[LoadPoint], headline: int, search: str
) -> LoadResult:
    return LoadResult(
        kind="server",
        points=points,
        headline=headline,
        latency_bound_ms=cfg.latency_ms,
        percentile=cfg.percentile,
        search=search,
    )
