"""Telemetry's cost to the measurement: p50 with the 10 Hz sampler on, against off.

The same agent runs the same job with telemetry enabled (10 Hz, every available sensor of this
machine) and disabled, in interleaved rounds (A B A B ...); the medians of the per-round p50s
are compared. Target: ratio <= 1.01.

Run: ``.venv/bin/python benchmarks/bench_telemetry.py [--rounds 7] [--seconds 3] [--size small]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from rigbench.agent.jobs import (
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.local_agent import start_local_agent
from rigbench.controller.modelgen import generate_cnn
from rigbench.digest import sha256_file


async def rounds(
    model: Path, n: int, seconds: float, home: Path
) -> tuple[list[float], list[float], int]:
    agent = await start_local_agent(home)
    digest = sha256_file(model)
    on: list[float] = []
    off: list[float] = []
    samples = 0
    try:
        async with AgentClient(ChannelConfig(agent.address)) as c:
            await c.ensure_artifacts({digest: model})
            for r in range(n):
                for enabled, out in ((True, on), (False, off)):
                    spec = JobSpec(
                        job_id=f"tel-{r}-{enabled}",
                        artifact_sha256=digest,
                        model_format="onnx",
                        runtime=RuntimeConfig("onnxruntime", ("cpu",), intra_op_threads=1),
                        measurement=MeasurementConfig(
                            warmup_iterations=50,
                            min_iterations=100,
                            min_duration_s=seconds,
                            max_duration_s=60,
                        ),
                        telemetry=TelemetryConfig(enabled=enabled, rate_hz=10.0),
                    )
                    result = None
                    async for e in c.run(spec, timeout_s=600):
                        if isinstance(e.body, JobResult):
                            result = e.body
                        elif enabled and hasattr(e.body, "samples"):
                            samples += len(e.body.samples)
                    assert result is not None, "job failed"
                    out.append(float(np.median(result.latencies_ns)))
                print(
                    f"round {r + 1}: p50 with telemetry {on[-1] / 1e3:.1f} us, "
                    f"without {off[-1] / 1e3:.1f} us, ratio {on[-1] / off[-1]:.3f}"
                )
    finally:
        agent.stop()
    return on, off, samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", default="small", choices=["tiny", "small"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = generate_cnn(Path(tmp), size=a.size).onnx_path
        on, off, samples = asyncio.run(rounds(model, a.rounds, a.seconds, Path(tmp) / "agent"))
    print(
        f"\nmodel: generated {a.size} CNN, onnxruntime CPU, 1 thread, {a.seconds:g} s per job, "
        f"{a.rounds} interleaved rounds; {samples} telemetry samples received"
    )
    print(f"median p50 with telemetry at 10 Hz: {statistics.median(on) / 1e3:.2f} us")
    print(f"median p50 without telemetry:      {statistics.median(off) / 1e3:.2f} us")
    print(f"ratio: {statistics.median(on) / statistics.median(off):.4f} (target <= 1.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
