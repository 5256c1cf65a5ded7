"""The telemetry sampler: one daemon thread reading every open source at a fixed rate.

Timestamps come from the agent's clock (`time.perf_counter_ns`: CLOCK_MONOTONIC on Linux,
shared by every process on the machine), the clock of the measured loop, so latency can be
lined up with temperature, clocks, throttle flags and power. The thread sleeps on
`threading.Event.wait`, never spins, so it does not heat the core it is measuring. A source
that raises (a sensor vanished, a command hung, garbage output) costs one `Gap` and sampling
goes on.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rigbench.agent.clock import SYSTEM_CLOCK, Clock
from rigbench.agent.telemetry.base import TelemetrySource
from rigbench.errors import TelemetryError


@dataclass(frozen=True)
class Sample:
    """One reading with the monotonic time (ns) at the middle of the read that produced it."""

    t_ns: int
    sensor: str
    metric: str
    value: float


@dataclass(frozen=True)
class Gap:
    """A read that produced nothing usable for `source` at `t_ns`, and why."""

    t_ns: int
    source: str
    reason: str


@dataclass
class SamplerOutput:
    """Everything a sampler collected between start and stop."""

    samples: list[Sample] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


BatchCallback = Callable[[list[Sample], list[Gap]], None]


class Sampler:
    """Polls `sources` at `rate_hz` on a daemon thread; optionally streams batches.

    Sources stay owned by the caller (open them before `start`, close them after `stop`).
    A source's `min_interval_s` slows it below `rate_hz` (forking vcgencmd ten times a
    second would disturb a Raspberry Pi).
    """

    def __init__(
        self,
        sources: Sequence[TelemetrySource],
        *,
        rate_hz: float = 10.0,
        on_batch: BatchCallback | None = None,
        batch_interval_s: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if rate_hz <= 0 or not math.isfinite(rate_hz):
            raise ValueError(f"rate_hz must be a positive number, not {rate_hz}")
        self._sources = list(sources)
        self._period_ns = int(1e9 / rate_hz)
        self._on_batch = on_batch
        self._batch_ns = int(batch_interval_s * 1e9)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out = SamplerOutput()
        self._sent_samples = 0
        self._sent_gaps = 0
        self._last_read: dict[int, int] = {}

    def start(self) -> None:
        """Start the sampling thread (once)."""
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._run, name="telemetry-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> SamplerOutput:
        """Stop the thread, flush the last batch, and return everything collected."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._flush()
        return self._out

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        next_tick = self._clock.now_ns()
        last_batch = next_tick
        while not self._stop.is_set():
            self.tick()
            now = self._clock.now_ns()
            if self._on_batch is not None and now - last_batch >= self._batch_ns:
                self._flush()
                last_batch = now
            next_tick += self._period_ns
            if next_tick < now:  # a slow read: skip the missed ticks rather than burst
                next_tick = now
            self._clock.wait(self._stop, (next_tick - now) / 1e9)

    def tick(self) -> None:
        """Read every source that is due, once. Called by the thread; public for tests."""
        for i, source in enumerate(self._sources):
            start = self._clock.now_ns()
            last = self._last_read.get(i)
            if last is not None and start - last < source.min_interval_s * 1e9:
                continue
            self._last_read[i] = start
            try:
                readings = source.read()
                error = None
            except TelemetryError as e:
                readings, error = [], str(e)
            except Exception as e:  # noqa: BLE001 - a backend bug must not stop sampling
                readings, error = [], f"{type(e).__name__}: {e}"
            end = self._clock.now_ns()
            t_ns = start + (end - start) // 2
            if error is not None:
                self._out.gaps.append(Gap(t_ns, source.name, error))
            for problem in source.problems():
                self._out.gaps.append(Gap(t_ns, source.name, problem))
            for r in readings:
                if not math.isfinite(r.value):
                    self._out.gaps.append(Gap(t_ns, source.name, f"{r.sensor}: non-finite value"))
                    continue
                self._out.samples.append(Sample(t_ns, r.sensor, r.metric, float(r.value)))

    def _flush(self) -> None:
        if self._on_batch is None:
            return
        samples = self._out.samples[self._sent_samples :]
        gaps = self._out.gaps[self._sent_gaps :]
        if not samples and not gaps:
            return
        self._sent_samples += len(samples)
        self._sent_gaps += len(gaps)
        try:
            self._on_batch(samples, gaps)
        except Exception as e:  # noqa: BLE001 - a failing consumer must not stop sampling
            self._out.gaps.append(Gap(self._clock.now_ns(), "sampler", f"on_batch failed: {e}"))
