"""Glue between the telemetry backends and a job: start sampling, stream batches, summarize.

The sampler thread runs in the agent process, not in the worker that measures, so it never
competes with the measured loop for the worker's GIL; both use CLOCK_MONOTONIC
(``perf_counter_ns``), which is system-wide on Linux, so samples line up with latencies.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigbench.agent.describe import SensorSummary
from rigbench.agent.jobs import (
    EventBody,
    JobResult,
    TelemetryBatch,
    TelemetryGapInfo,
    TelemetryPoint,
)
from rigbench.agent.telemetry import discover, open_available
from rigbench.agent.telemetry.base import (
    SensorEnv,
    SensorInfo,
    SensorSettings,
    SourceStatus,
    TelemetrySource,
)
from rigbench.agent.telemetry.sampler import Gap, Sample, Sampler
from rigbench.agent.telemetry.summary import summarize

log = logging.getLogger("rigbench.agent")


@dataclass
class TelemetrySession:
    env: SensorEnv
    _infos: list[SensorInfo] | None = None

    def infos(self) -> list[SensorInfo]:
        """What each backend offers, probed once: sensors do not come and go while we run."""
        if self._infos is None:
            self._infos = discover(self.env)
        return self._infos

    @classmethod
    def create(cls, root: Path, simulated: bool, settings: SensorSettings) -> TelemetrySession:
        """Sensors read under ``root`` with the (already checked) per-source ``settings``."""
        env = SensorEnv(root=root, simulated=simulated, settings=settings)
        if simulated:
            from rigbench.agent.telemetry.recorded import RecordedCommandRunner

            env.run = RecordedCommandRunner(root)
        return cls(env)

    def sensor_summaries(self) -> list[SensorSummary]:
        return [
            SensorSummary(
                i.source, i.status.value, i.detail, list(i.sensors), i.update_period_s, i.simulated
            )
            for i in self.infos()
        ]

    def start(self, rate_hz: float, emit: Callable[[EventBody], Any]) -> Recorder:
        loop = asyncio.get_running_loop()
        infos = {i.source: i for i in self.infos()}
        periods: dict[str, float | None] = {
            s: i.update_period_s
            for s, i in infos.items()
            if i.status is SourceStatus.AVAILABLE and i.update_period_s
        }
        sources = open_available(self.env, self.infos())

        pending: list[TelemetryBatch] = []
        lock = threading.Lock()

        def flush() -> None:
            with lock:
                batches = pending[:]
                pending.clear()
            for b in batches:
                emit(b)

        def on_batch(samples: list[Sample], gaps: list[Gap]) -> None:
            batch = TelemetryBatch(
                samples=tuple(TelemetryPoint(s.t_ns, s.sensor, s.metric, s.value) for s in samples),
                gaps=tuple(TelemetryGapInfo(g.t_ns, g.source, g.reason) for g in gaps),
            )
            with lock:
                pending.append(batch)
            loop.call_soon_threadsafe(flush)

        sampler = Sampler(sources, rate_hz=rate_hz, on_batch=on_batch)
        sampler.start()
        return Recorder(sampler, sources, periods, self.env.simulated, flush)


@dataclass
class Recorder:
    sampler: Sampler
    sources: list[TelemetrySource]
    update_periods: dict[str, float | None]
    simulated: bool
    flush: Callable[[], None]

    def stop_and_summarize(
        self, body: EventBody | None, idle_window: tuple[int, int] | None
    ) -> dict[str, Any]:
        out = self.sampler.stop()
        self.flush()  # every batch is spooled before the result that ends the job
        for s in self.sources:
            try:
                s.close()
            except Exception:  # closing a sensor must never fail a job
                log.debug("closing %s failed", s, exc_info=True)
        if not isinstance(body, JobResult):
            return {}
        summary = summarize(
            out.samples,
            out.gaps,
            window=(body.measure_start_ns, body.measure_end_ns),
            idle_window=idle_window,
            iterations=body.inferences,
            update_periods=self.update_periods,
            sources=[type(s) for s in self.sources],
        ).to_dict()
        summary["simulated"] = self.simulated
        return summary
