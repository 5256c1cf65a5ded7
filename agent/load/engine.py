"""Executors serving requests: on a schedule (server) or from a standing queue (offline).

Each executor is a thread with its own loaded model (a session or interpreter of its own:
one LiteRT interpreter must not be entered from two threads, and separate ORT sessions do
not share an intra-op pool). ONNX Runtime's ``run``, LiteRT's ``invoke`` and OpenVINO's
``infer`` release the GIL while the model runs, so the executors' models run in parallel and
only the few microseconds of Python around each call take turns.

**The queue.** Requests wait in one first-in-first-out queue inside the worker. For the
server scenario the queue is the schedule itself: a request joins it at its scheduled
arrival, and a free executor takes the oldest request that has arrived, or waits for the next
arrival when none has. That is exactly a FIFO queue fed by an issuing thread, without the
hop through one: nothing ever waits for a completion before issuing the next request (no
coordinated omission), so when the executors fall behind the queue grows, and every
request's latency runs from its **scheduled** arrival, not from when an executor got to it.
For the offline scenario every request is in the queue from the start (all issued at once)
and executors take the next one as soon as they are free; a request's latency is then its
own run, from when an executor took it (time spent queued there only says how many came
before it).
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Call = Callable[[], Any]
ProgressFn = Callable[[int, int], None]  # served so far, elapsed ns

_PROGRESS_EVERY_S = 0.5

# Why a load point stopped serving.
COMPLETED = "completed"  # every scheduled request was served (server)
MIN_REACHED = "min_reached"  # enough requests over enough time (offline)
BOUND_LOST = "bound_lost"  # so many requests missed the bound that the percentile cannot meet it
MAX_DURATION = "max_duration"  # the point ran out of time with requests still queued
MAX_REQUESTS = "max_iterations"


@dataclass
class Served:
    """Each request of one load point, by its place in the queue (issue order).

    Times are ``perf_counter_ns``. A request never served (the point stopped first) has
    ``start_ns`` and ``end_ns`` of -1.
    """

    arrival_ns: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    begin_ns: int  # the point's start: the schedule's origin, or when offline issued all
    finish_ns: int  # the last request's end
    stop_reason: str
    cpu_ns: int = 0  # this process's CPU time (every thread) over the point
    executor_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    @property
    def schedule_ns(self) -> int:
        """From the start to the last arrival (offline: 0, everything arrives at once)."""
        return int(self.arrival_ns[-1] - self.begin_ns) if self.arrival_ns.size else 0

    @property
    def served(self) -> np.ndarray:
        return self.end_ns >= 0

    @property
    def planned(self) -> int:
        """Requests scheduled (server) or taken from the standing queue (offline)."""
        return int(self.arrival_ns.size)

    def latencies_ns(self) -> np.ndarray:
        """Served requests' latency from their arrival (server: the scheduled arrival)."""
        ok = self.served
        return (self.end_ns[ok] - self.arrival_ns[ok]).astype(np.int64)

    def service_ns(self) -> np.ndarray:
        """Served requests' own run time, from when an executor took them."""
        ok = self.served
        return (self.end_ns[ok] - self.start_ns[ok]).astype(np.int64)


class _Stop:
    """A stop flag executors can also sleep on (a stop wakes them at once)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def set(self, reason: str, error: BaseException | None = None) -> None:
        with self._lock:
            if not self.reason:
                self.reason, self.error = reason, error
        self.event.set()

    @property
    def is_set(self) -> bool:
        return self.event.is_set()


def _run_executors(
    calls: Sequence[Call],
    work: Callable[[int, Call, list[tuple[int, int, int]]], None],
    stop: _Stop,
    progress: ProgressFn | None,
    begin_ns: int,
    count: Callable[[], int],
) -> list[list[tuple[int, int, int]]]:
    """Run ``work(executor, call, records)`` on one thread per call; returns each executor's
    records ``(request, start_ns, end_ns)``. The first exception stops every executor and is
    raised here, in the caller's thread.
    """
    records: list[list[tuple[int, int, int]]] = [[] for _ in calls]

    def guarded(k: int) -> None:
        try:
            work(k, calls[k], records[k])
        except BaseException as e:  # the model's error: stop the others, re-raise in the caller
            stop.set("error", e)

    threads = [
        threading.Thread(target=guarded, args=(k,), name=f"rigbench-executor-{k}", daemon=True)
        for k in range(len(calls))
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(_PROGRESS_EVERY_S)
            if progress is not None and t.is_alive():
                progress(count(), time.perf_counter_ns() - begin_ns)
    if stop.error is not None:
        raise stop.error
    return records


def _collect(
    records: list[list[tuple[int, int, int]]], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    who = np.full(n, -1, dtype=np.int16)
    for k, rec in enumerate(records):
        if not rec:
            continue
        arr = np.asarray(rec, dtype=np.int64)
        idx = arr[:, 0]
        start[idx], end[idx], who[idx] = arr[:, 1], arr[:, 2], k
    return start, end, who


def late_limit(planned: int, percentile: float) -> int:
    """How many of ``planned`` requests may miss the bound before the percentile must.

    With the latencies sorted, the linear-interpolation percentile lies at or above the
    value of rank ``floor((n - 1) p)`` (0-based): once ``n - floor((n - 1) p)`` requests are
    over the bound, that value is over it too, whatever the rest do.
    """
    return planned - int(np.floor((planned - 1) * percentile / 100.0))


def serve_schedule(
    calls: Sequence[Call],
    offsets_ns: np.ndarray,
    *,
    bound_ns: int | None = None,
    percentile: float = 99.0,
    max_s: float = 0.0,
    progress: ProgressFn | None = None,
) -> Served:
    """Serve requests arriving at ``offsets_ns`` (from now) with one executor per call.

    With ``bound_ns``, the point stops as soon as enough requests have missed the bound that
    the ``percentile`` of all of them cannot meet it (``BOUND_LOST``): an overloaded point is
    decided without serving its whole backlog. With ``max_s``, requests still queued that long
    after the first arrival are left unserved (``MAX_DURATION``).
    """
    n = int(offsets_ns.size)
    offsets = offsets_ns.tolist()
    clock = time.perf_counter_ns
    stop = _Stop()
    counter = itertools.count()
    issued = [0]
    limit = late_limit(n, percentile) if bound_ns is not None else n + 1
    late = itertools.count(1)
    max_ns = int(max_s * 1e9) if max_s > 0 else 0
    origin = [0]  # set once garbage is collected, just before the executors start

    def work(_k: int, call: Call, out: list[tuple[int, int, int]]) -> None:
        append = out.append
        wait = stop.event.wait
        begin = origin[0]
        while not stop.is_set:
            i = next(counter)
            if i >= n:
                return
            issued[0] = i + 1
            due = begin + offsets[i]
            now = clock()
            if now < due and wait((due - now) / 1e9):
                return  # stopped while waiting for this arrival: it is never served
            if max_ns and now - begin > max_ns:
                stop.set(MAX_DURATION)
                return
            a = clock()
            call()
            b = clock()
            append((i, a, b))
            if bound_ns is not None and b - due > bound_ns and next(late) >= limit:
                stop.set(BOUND_LOST)

    # 2 ms for the executors to start before the schedule's origin.
    served = _measured(calls, work, stop, progress, origin, 2_000_000, lambda: issued[0])
    begin = origin[0]
    start, end, who = _collect(served.records, n)
    arrival = begin + offsets_ns.astype(np.int64)
    ok = end >= 0
    return Served(
        arrival_ns=arrival,
        start_ns=start,
        end_ns=end,
        begin_ns=begin,
        finish_ns=int(end[ok].max()) if ok.any() else begin,
        stop_reason=stop.reason or COMPLETED,
        cpu_ns=served.cpu_ns,
        executor_of=who,
    )


def serve_standing_queue(
    calls: Sequence[Call],
    *,
    min_requests: int,
    min_s: float,
    max_requests: int,
    max_s: float,
    progress: ProgressFn | None = None,
) -> Served:
    """Offline: every request is queued at the start; executors take the next as soon as
    they are free, until at least ``min_requests`` were issued over at least ``min_s`` (or a
    maximum is reached). Requests already taken are finished.
    """
    clock = time.perf_counter_ns
    stop = _Stop()
    counter = itertools.count()
    issued = [0]
    min_ns = int(min_s * 1e9)
    max_ns = int(max_s * 1e9) if max_s > 0 else 2**62
    max_n = max(max_requests, min_requests, 1)
    origin = [0]

    def work(_k: int, call: Call, out: list[tuple[int, int, int]]) -> None:
        append = out.append
        begin = origin[0]
        while not stop.is_set:
            i = next(counter)
            if i >= max_n:
                stop.set(MAX_REQUESTS)
                return
            issued[0] = i + 1
            a = clock()
            call()
            b = clock()
            append((i, a, b))
            elapsed = b - begin
            if i + 1 >= min_requests and elapsed >= min_ns:
                stop.set(MIN_REACHED)
            elif elapsed >= max_ns:
                stop.set(MAX_DURATION)

    served = _measured(calls, work, stop, progress, origin, 0, lambda: issued[0])
    begin = origin[0]
    n = 1 + max((rec[-1][0] for rec in served.records if rec), default=-1)
    start, end, who = _collect(served.records, n)
    ok = end >= 0
    return Served(
        arrival_ns=np.full(n, begin, dtype=np.int64),
        start_ns=start,
        end_ns=end,
        begin_ns=begin,
        finish_ns=int(end[ok].max()) if ok.any() else begin,
        stop_reason=stop.reason or MIN_REACHED,
        cpu_ns=served.cpu_ns,
        executor_of=who,
    )


@dataclass
class _Measured:
    records: list[list[tuple[int, int, int]]]
    cpu_ns: int


def _measured(
    calls: Sequence[Call],
    work: Callable[[int, Call, list[tuple[int, int, int]]], None],
    stop: _Stop,
    progress: ProgressFn | None,
    origin: list[int],
    lead_ns: int,
    count: Callable[[], int],
) -> _Measured:
    """Run the executors with garbage collection off, and the process's CPU time around it.

    ``origin[0]`` (the point's time zero, which the executors read) is set after the
    collection, ``lead_ns`` ahead of now: a collection can take longer than the first gap.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    cpu0 = time.process_time_ns()
    origin[0] = time.perf_counter_ns() + lead_ns
    try:
        records = _run_executors(calls, work, stop, progress, origin[0], count)
    finally:
        cpu = time.process_time_ns() - cpu0
        if was_enabled:
            gc.enable()
    return _Measured(records, cpu)


def warm_up(calls: Sequence[Call], iterations: int, seconds: float) -> int:
    """Run every executor ``iterations`` times and for at least ``seconds``, all at once (so
    they warm up under the contention they are measured in). Returns the calls per executor.
    """
    if iterations <= 0 and seconds <= 0:
        return 0
    stop = _Stop()
    done = [0] * len(calls)
    clock = time.perf_counter_ns
    begin = clock()
    min_ns = int(seconds * 1e9)

    def work(k: int, call: Call, _out: list[tuple[int, int, int]]) -> None:
        n = 0
        while n < iterations or clock() - begin < min_ns:
            call()
            n += 1
            if stop.is_set:
                break
        done[k] = n

    _run_executors(calls, work, stop, None, begin, lambda: 0)
    return min(done) if done else 0
