"""Harness overhead: rigbench's p50 against a bare ``session.run`` loop on a ~0.1 ms model.

On a model this small the harness's own cost per iteration shows. Both sides run in a fresh
process on the same model, inputs, thread count and iteration count; rounds are interleaved
(A B A B ...) because a single round on a shared machine swings by tens of percent, and the
medians of the per-round p50s are compared. Target: ratio <= 1.02.

Run: ``.venv/bin/python benchmarks/bench_overhead.py [--rounds 7] [--iterations 3000]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
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

BARE_LOOP = r"""
import sys, time, numpy as np, onnxruntime as ort
path, n, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
feeds = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)}
names = [o.name for o in s.get_outputs()]
for _ in range(warm): s.run(names, feeds)
lat = []
for _ in range(n):
    t0 = time.perf_counter_ns(); s.run(names, feeds); lat.append(time.perf_counter_ns() - t0)
print(int(np.median(lat)))
"""


def bare_p50(model: Path, n: int, warm: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", BARE_LOOP, str(model), str(n), str(warm)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


async def rigbench_p50s(
    model: Path, n: int, warm: int, rounds: int, bare: list[float], home: Path
) -> list[float]:
    agent = await start_local_agent(home)
    digest = sha256_file(model)
    out: list[float] = []
    try:
        async with AgentClient(ChannelConfig(agent.address)) as c:
            await c.ensure_artifacts({digest: model})
            for r in range(rounds):
                spec = JobSpec(
                    job_id=f"overhead-{r}",
                    artifact_sha256=digest,
                    model_format="onnx",
                    runtime=RuntimeConfig("onnxruntime", ("cpu",), intra_op_threads=1),
                    measurement=MeasurementConfig(
                        warmup_iterations=warm,
                        min_iterations=n,
                        max_iterations=n,
                        min_duration_s=0.0,
                    ),
                    telemetry=TelemetryConfig(enabled=False),
                )
                result = None
                async for e in c.run(spec, timeout_s=600):
                    if isinstance(e.body, JobResult):
                        result = e.body
                assert result is not None, "job failed"
                out.append(float(np.median(result.latencies_ns)))
                bare.append(bare_p50(model, n, warm))  # B right after A: interleaved
                print(
                    f"round {r + 1}: rigbench p50 {out[-1] / 1e3:.1f} us, "
                    f"bare p50 {bare[-1] / 1e3:.1f} us, ratio {out[-1] / bare[-1]:.3f}"
                )
    finally:
        agent.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = generate_cnn(Path(tmp), size="tiny").onnx_path
        bare: list[float] = []
        ours = asyncio.run(
            rigbench_p50s(model, a.iterations, a.warmup, a.rounds, bare, Path(tmp) / "agent")
        )
    ratios = [o / b for o, b in zip(ours, bare)]
    print(
        f"\nmodel: generated tiny CNN, onnxruntime CPU, 1 thread, {a.iterations} iterations "
        f"x {a.rounds} interleaved rounds"
    )
    print(f"median p50  rigbench: {statistics.median(ours) / 1e3:.2f} us")
    print(f"median p50  bare loop: {statistics.median(bare) / 1e3:.2f} us")
    print(
        f"ratio of medians: {statistics.median(ours) / statistics.median(bare):.3f} "
        f"(median of per-round ratios {statistics.median(ratios):.3f}; target <= 1.02)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
