"""The load engine (agent/load): Poisson arrivals, open-loop serving, the peak search, batches.

The serving tests use an in-process "model" whose service time is a sleep: like a runtime
it releases the GIL while it "runs", and it can never serve faster than its sleep, so the
assertions only rely on that one-sided fact, never on how long anything took.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.agent.jobs import InputOverride
from rigbench.agent.load.arrivals import poisson_arrivals_ns
from rigbench.agent.load.engine import (
    BOUND_LOST,
    COMPLETED,
    MIN_REACHED,
    late_limit,
    serve_schedule,
    serve_standing_queue,
    warm_up,
)
from rigbench.agent.load.scenario import batch_one, batched, check_batches, percentile_ns
from rigbench.agent.load.search import CONVERGED, NEVER_HELD, Step, find_peak
from rigbench.agent.runtimes.base import TensorSpec
from rigbench.errors import InputSpecError


class SleepModel:
    """A model whose every call takes at least ``service_s`` and releases the GIL meanwhile."""

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        time.sleep(self.service_s)
        with self._lock:
            self.calls += 1


# --- Poisson arrivals -------------------------------------------------------------------------
def _ks_exponential(gaps: np.ndarray, mean: float) -> float:
    """Kolmogorov-Smirnov distance between the gaps and Exp(mean)."""
    x = np.sort(gaps)
    n = x.size
    cdf = 1.0 - np.exp(-x / mean)
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


@pytest.mark.parametrize("qps", [7.0, 250.0, 20_000.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_arrivals_are_a_poisson_process_at_the_target_rate(qps: float, seed: int) -> None:
    offsets = poisson_arrivals_ns(qps, duration_s=4000 / qps, min_requests=1, seed=seed)
    gaps = np.diff(np.concatenate([[0], offsets])).astype(float)
    n = gaps.size
    mean = 1e9 / qps
    # Mean gap within 4 standard errors (an exponential's sd equals its mean).
    assert abs(gaps.mean() - mean) < 4 * mean / math.sqrt(n)
    # Coefficient of variation of an exponential is 1.
    assert 0.9 < gaps.std() / gaps.mean() < 1.1
    # Gaps are exponential: KS distance under the 1% critical value.
    assert _ks_exponential(gaps, mean) < 1.63 / math.sqrt(n)
    # Counts in fixed windows are Poisson: their variance is their mean (index of dispersion 1).
    window = 10 * mean
    counts = np.bincount((offsets // window).astype(int))[:-1]
    assert 0.8 < counts.var() / counts.mean() < 1.25
    # Successive gaps are independent.
    assert abs(np.corrcoef(gaps[:-1], gaps[1:])[0, 1]) < 4 / math.sqrt(n)


@settings(max_examples=60, deadline=None)
@given(
    qps=st.floats(0.1, 1e5),
    duration_s=st.floats(0.0, 2.0),
    min_requests=st.integers(1, 500),
    seed=st.integers(0, 2**32),
)
def test_arrivals_cover_the_duration_and_the_minimum_count(
    qps: float, duration_s: float, min_requests: int, seed: int
) -> None:
    offsets = poisson_arrivals_ns(qps, duration_s, min_requests, seed)
    assert offsets.size >= min_requests
    assert np.all(np.diff(offsets) >= 0) and offsets[0] >= 0
    if offsets.size > min_requests:  # more than the minimum: exactly those within the duration
        assert offsets[-1] <= duration_s * 1e9
    assert np.array_equal(offsets, poisson_arrivals_ns(qps, duration_s, min_requests, seed))


def test_arrivals_refuse_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="qps"):
        poisson_arrivals_ns(0.0, 1.0, 1)


# --- open loop -------------------------------------------------------------------------------
def test_an_overloaded_server_queues_latency_grows_from_the_scheduled_arrival() -> None:
    """At twice what one executor can serve, requests are still issued on schedule: the queue
    grows, and each request's latency (from its scheduled arrival) grows with its place in
    the queue, while its own service time stays flat. A closed loop would show the service
    time for every request.
    """
    service_s = 0.004
    model = SleepModel(service_s)
    capacity = 1 / service_s  # at most: a sleep never ends early
    offsets = poisson_arrivals_ns(2 * capacity, duration_s=0.6, min_requests=100, seed=3)
    served = serve_schedule([model], offsets)
    assert served.stop_reason == COMPLETED
    assert bool(served.served.all()) and model.calls == offsets.size
    lat = served.latencies_ns()
    own = served.service_ns()
    n = lat.size
    first, last = lat[: n // 10], lat[-n // 4 :]
    # Queueing: the last quarter waited far longer than the first tenth ...
    assert np.median(last) > 5 * np.median(first)
    assert np.median(last) > 10 * np.median(own)
    # ... and latency rises with queue position (rank correlation close to 1).
    ranks = np.argsort(np.argsort(lat))
    assert np.corrcoef(ranks, np.arange(n))[0, 1] > 0.9
    # Requests were served in arrival order, none started before it arrived.
    ok = served.served
    assert np.all(served.start_ns[ok] >= served.arrival_ns[ok])
    assert np.all(np.diff(served.start_ns) >= 0)


def test_under_light_load_latency_is_the_service_time() -> None:
    offsets = poisson_arrivals_ns(10.0, duration_s=1.0, min_requests=10, seed=4)
    served = serve_schedule([SleepModel(0.005), SleepModel(0.005)], offsets)
    lat, own = served.latencies_ns(), served.service_ns()
    # At 5% utilisation almost nobody queues: the median latency is the median service time
    # plus the wake-up delay, nowhere near the growth of the overloaded case.
    assert np.median(lat) < 3 * np.median(own)


def test_a_lost_bound_stops_the_point_early() -> None:
    model = SleepModel(0.004)
    offsets = poisson_arrivals_ns(1000.0, duration_s=2.0, min_requests=10, seed=5)
    served = serve_schedule([model], offsets, bound_ns=5_000_000, percentile=90.0)
    assert served.stop_reason == BOUND_LOST
    assert served.served.sum() < offsets.size / 2
    late = (served.latencies_ns() > 5_000_000).sum()
    assert late >= late_limit(offsets.size, 90.0)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.lists(st.integers(1, 10_000), min_size=1, max_size=300),
    bound=st.integers(1, 10_000),
    percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9]),
)
def test_late_limit_is_where_the_percentile_must_miss_the_bound(
    lat: list[int], bound: int, percentile: float
) -> None:
    late = sum(v > bound for v in lat)
    limit = late_limit(len(lat), percentile)
    if late >= limit:
        assert percentile_ns(lat, percentile) > bound
    # Two fewer late requests can always meet it: the point stops at most one request late.
    if limit >= 2:
        ok = [bound] * (len(lat) - limit + 2) + [bound + 1] * (limit - 2)
        assert percentile_ns(ok, percentile) <= bound


def test_executors_serve_in_parallel() -> None:
    """Two executors overlap in time: the runtime call releases the GIL."""
    models = [SleepModel(0.01), SleepModel(0.01)]
    served = serve_standing_queue(models, min_requests=20, min_s=0.0, max_requests=1000, max_s=10.0)
    assert served.stop_reason == MIN_REACHED
    assert set(served.executor_of[served.served].tolist()) == {0, 1}
    s, e = served.start_ns[served.served], served.end_ns[served.served]
    overlaps = sum(
        1 for i in range(len(s)) for j in range(i + 1, len(s)) if s[i] < e[j] and s[j] < e[i]
    )
    assert overlaps >= 5


def test_offline_issues_everything_at_once_and_stops_at_the_minimum() -> None:
    model = SleepModel(0.0005)
    served = serve_standing_queue([model], min_requests=30, min_s=0.0, max_requests=1000, max_s=10)
    assert served.served.sum() == 30 == model.calls
    assert np.all(served.arrival_ns == served.begin_ns)


def test_a_failing_model_stops_every_executor_and_raises() -> None:
    calls = {"n": 0}

    def bad() -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):
        serve_standing_queue(
            [bad, SleepModel(0.001)], min_requests=10**6, min_s=0, max_requests=10**6, max_s=30
        )


def test_warm_up_runs_every_executor() -> None:
    models = [SleepModel(0.0), SleepModel(0.0), SleepModel(0.0)]
    assert warm_up(models, 7, 0.0) == 7
    assert [m.calls for m in models] == [7, 7, 7]


# --- peak search -----------------------------------------------------------------------------
class SimulatedQueue:
    """An M/D/c server in simulated time: Poisson arrivals (common random numbers, so a higher
    rate only shortens every gap and the latency percentile rises monotonically with the rate),
    deterministic service, first come first served. No clock involved.
    """

    def __init__(self, service_s: float, servers: int, bound_s: float, percentile: float) -> None:
        self.service_s, self.servers = service_s, servers
        self.bound_s, self.percentile = bound_s, percentile
        self.unit_gaps = np.random.default_rng(11).exponential(1.0, size=4000)
        self.runs: list[float] = []

    def p(self, qps: float) -> float:
        arrivals = np.cumsum(self.unit_gaps / qps)
        free = [0.0] * self.servers
        lat = np.empty_like(arrivals)
        for i, a in enumerate(arrivals):
            k = min(range(self.servers), key=free.__getitem__)
            start = max(a, free[k])
            free[k] = start + self.service_s
            lat[i] = free[k] - a
        return float(np.percentile(lat, self.percentile))

    def __call__(self, qps: float) -> Step:
        self.runs.append(qps)
        return Step(qps, qps, self.p(qps) <= self.bound_s)

    def true_peak(self) -> float:
        lo, hi = 1e-3, self.servers / self.service_s * 1.5
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.p(mid) <= self.bound_s else (lo, mid)
        return lo


@pytest.mark.parametrize(
    ("service_ms", "servers", "bound_ms", "start_factor"),
    [(5.0, 1, 20.0, 1.0), (5.0, 2, 12.0, 1.0), (2.0, 4, 3.0, 0.3), (1.0, 1, 50.0, 3.0)],
)
def test_peak_search_finds_the_edge_of_a_simulated_queue(
    service_ms: float, servers: int, bound_ms: float, start_factor: float
) -> None:
    sim = SimulatedQueue(service_ms / 1e3, servers, bound_ms / 1e3, 99.0)
    capacity = servers / sim.service_s
    search = find_peak(sim, start_factor * capacity, rel_tol=0.02)
    truth = sim.true_peak()
    assert search.reason == CONVERGED
    assert search.peak is not None
    assert truth * 0.98 <= search.peak.target_qps <= truth
    # Every step that held is at or below the edge, every one that failed above it.
    for s in search.steps:
        assert s.held == (s.target_qps <= truth)
    assert len(search.steps) <= 14


def test_peak_search_reports_a_bound_no_rate_meets() -> None:
    sim = SimulatedQueue(0.005, 1, 0.004, 99.0)  # the bound is below the service time
    search = find_peak(sim, 200.0)
    assert search.reason == NEVER_HELD
    assert search.peak is None


def test_peak_search_survives_noise_at_the_edge() -> None:
    rng = np.random.default_rng(0)

    def noisy(q: float) -> Step:
        p_hold = 1.0 / (1.0 + math.exp((q - 100.0) / 3.0))  # blurred edge around 100 qps
        return Step(q, q, bool(rng.random() < p_hold))

    search = find_peak(noisy, 400.0, max_steps=16)
    assert len(search.steps) <= 16
    assert search.peak is not None and 80 < search.peak.target_qps < 120


# --- batches ---------------------------------------------------------------------------------
def test_a_fixed_batch_input_refuses_a_batch_it_cannot_take_naming_the_input() -> None:
    specs = [
        TensorSpec("tokens", "int64", (None, 16)),
        TensorSpec("image", "float32", (1, 3, 8, 8)),
    ]
    check_batches(specs, [1])
    with pytest.raises(
        InputSpecError, match=r"batch 4: input 'image' has a fixed first dimension of 1"
    ):
        check_batches(specs, [1, 4])


def test_batched_inputs_repeat_rows_and_leave_scalars() -> None:
    specs = [TensorSpec("x", "float32", (None, 3)), TensorSpec("sr", "int64", ())]
    feeds = {"x": np.arange(3, dtype=np.float32).reshape(1, 3), "sr": np.array(16000)}
    out = batched(specs, feeds, 5)
    assert out["x"].shape == (5, 3) and np.all(out["x"] == feeds["x"][0])
    assert out["sr"].shape == ()


def test_with_a_batch_a_dynamic_first_dimension_needs_no_shape() -> None:
    specs = [
        TensorSpec("image", "float32", ("batch", 3, 8, 8)),
        TensorSpec("tokens", "int64", (None, None)),  # more than the batch is dynamic
        TensorSpec("scale", "float32", (None, 1)),
    ]
    given = (InputOverride("scale", value=2.0),)
    out = {o.name: o for o in batch_one(specs, given)}
    assert out["image"].shape == (1, 3, 8, 8)
    assert "tokens" not in out  # still the user's to give
    assert out["scale"].shape == (1, 1) and out["scale"].value == 2.0


def test_a_server_point_waits_for_its_minimum_requests_but_not_forever() -> None:
    from rigbench.agent.jobs import MeasurementConfig
    from rigbench.agent.load.scenario import server_point_window

    m = MeasurementConfig(min_iterations=200, max_duration_s=30.0)
    assert server_point_window(1000.0, 2.0, m) == (2.0, 30.0)  # 2000 requests in 2 s
    assert server_point_window(50.0, 2.0, m) == (4.0, 30.0)  # 200 requests need 4 s
    # 200 requests at 0.5/s would take 400 s: capped at half the job's max_duration_s.
    assert server_point_window(0.5, 2.0, m) == (15.0, 30.0)
    # A long point the user asked for is never cut; its drain cap follows it.
    assert server_point_window(0.5, 40.0, m) == (40.0, 80.0)
