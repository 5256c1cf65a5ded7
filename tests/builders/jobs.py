"""Job specs for a real agent, and reading a job's events.
"""

from __future__ import annotations

from pathlib import Path

from rigbench.agent.jobs import (
    JobEvent,
    JobFailure,
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.controller.client import AgentClient
from rigbench.digest import sha256_file

QUICK = MeasurementConfig(warmup_iterations=2, min_iterations=20, min_duration_s=0.0)


def spec(
    path: Path,
    job_id: str,
    fmt: str = "onnx",
    runtime: str = "onnxruntime",
    measurement: MeasurementConfig = QUICK,
    **kw: object,
) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        artifact_sha256=sha256_file(path),
        model_format=fmt,
        runtime=RuntimeConfig(runtime=runtime, intra_op_threads=1),
        measurement=measurement,
        telemetry=TelemetryConfig(enabled=False),
        **kw,
    )  # type: ignore[arg-type]


async def run_job(c: AgentClient, s: JobSpec, files: dict[str, Path]) -> list[JobEvent]:
    await c.ensure_artifacts(files)
    return [e async for e in c.run(s, timeout_s=120)]


def terminal(events: list[JobEvent]) -> JobResult | JobFailure:
    body = events[-1].body
    assert isinstance(body, (JobResult, JobFailure))
    return body
