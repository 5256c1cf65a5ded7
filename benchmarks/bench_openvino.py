"""OpenVINO through rigbench against OpenVINO's own ``benchmark_app``, and the profiling cost.

Same model (the generated small CNN as ONNX), same device (CPU), same compiled-model
properties on both sides (PERFORMANCE_HINT=LATENCY, NUM_STREAMS=1, INFERENCE_NUM_THREADS=1,
INFERENCE_PRECISION_HINT=f32: given to benchmark_app with ``-load_config`` because its command
line refuses -nstreams/-nthreads together with -hint), synchronous inference, the same number
of iterations. Rounds are interleaved (rigbench, benchmark_app, rigbench, ...) and the medians
of the per-round p50s are compared; target: ratio <= 1.02. benchmark_app prints its median
with 0.01 ms resolution.

Then the profiling pass: one job with ``profile: true`` per runtime (ORT and OpenVINO), and
what the pass cost beside the timed loop (it runs after the loop, so the loop's figures do not
include it).

benchmark_app imports openvino, which sends a usage event unless told not to: it is run with
``CI=true``, which OpenVINO's telemetry treats as declined.

Run: ``.venv/bin/python benchmarks/bench_openvino.py [--rounds 5] [--iterations 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

PROPS = {
    "PERFORMANCE_HINT": "LATENCY",
    "NUM_STREAMS": "1",
    "INFERENCE_NUM_THREADS": "1",
    "INFERENCE_PRECISION_HINT": "f32",
}
OV = RuntimeConfig(
    "openvino",
    ("CPU",),
    intra_op_threads=1,
    options={"performance_hint": "LATENCY", "streams": "1", "inference_precision": "f32"},
)


def benchmark_app_p50_ms(model: Path, n: int, work: Path) -> float:
    exe = shutil.which("benchmark_app", path=str(Path(sys.executable).parent)) or "benchmark_app"
    cfg = work / "config.json"
    cfg.write_text(json.dumps({"CPU": PROPS}))
    report = work / "report"
    report.mkdir(exist_ok=True)
    subprocess.run(
        [
            exe,
            "-m",
            str(model),
            "-d",
            "CPU",
            "-load_config",
            str(cfg),
            "-niter",
            str(n),
            "-api",
            "sync",
            "-report_type",
            "no_counters",
            "-report_folder",
            str(report),
            "-json_stats",
        ],  # fmt: skip
        check=True,
        capture_output=True,
        env={**os.environ, "CI": "true"},
    )
    stats = json.loads((report / "benchmark_report.json").read_text())
    return float(stats["execution_results"]["latency (ms)"])


def spec(job_id: str, digest: str, runtime: RuntimeConfig, n: int, warm: int) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        artifact_sha256=digest,
        model_format="onnx",
        runtime=runtime,
        measurement=MeasurementConfig(
            warmup_iterations=warm, min_iterations=n, max_iterations=n, min_duration_s=0.0
        ),
        telemetry=TelemetryConfig(enabled=False),
    )


async def run_job(c: AgentClient, s: JobSpec) -> JobResult:
    result = None
    async for e in c.run(s, timeout_s=900):
        if isinstance(e.body, JobResult):
            result = e.body
        elif e.is_terminal:
            raise SystemExit(f"job {s.job_id} failed: {e.body}")
    assert result is not None
    return result


async def measure(model: Path, a: argparse.Namespace, work: Path) -> None:
    agent = await start_local_agent(work / "agent")
    digest = sha256_file(model)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        async with AgentClient(ChannelConfig(agent.address)) as c:
            await c.ensure_artifacts({digest: model})
            for r in range(a.rounds):
                res = await run_job(c, spec(f"ov-{r}", digest, OV, a.iterations, a.warmup))
                ours.append(float(np.median(res.latencies_ns)) / 1e6)
                theirs.append(benchmark_app_p50_ms(model, a.iterations, work))
                print(
                    f"round {r + 1}: rigbench p50 {ours[-1]:.3f} ms, benchmark_app p50 "
                    f"{theirs[-1]:.2f} ms, ratio {ours[-1] / theirs[-1]:.3f}  "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
            print(
                f"\nmodel: generated small CNN (ONNX), OpenVINO CPU, {PROPS}, sync, "
                f"{a.iterations} iterations x {a.rounds} interleaved rounds"
            )
            m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
            print(f"median p50  rigbench:      {m_ours:.3f} ms")
            print(f"median p50  benchmark_app: {m_theirs:.2f} ms")
            print(
                f"ratio of medians: {m_ours / m_theirs:.3f} (median of per-round ratios "
                f"{statistics.median(o / t for o, t in zip(ours, theirs)):.3f}; target <= 1.02)"
            )
            print("\nprofiling pass (profile: true), one job per runtime:")
            ort = RuntimeConfig("onnxruntime", ("cpu",), intra_op_threads=1, profile=True)
            ov = RuntimeConfig(
                "openvino", ("CPU",), intra_op_threads=1, options=OV.options, profile=True
            )
            for name, rt in (("onnxruntime", ort), ("openvino", ov)):
                res = await run_job(c, spec(f"prof-{name}", digest, rt, a.iterations, a.warmup))
                p = res.op_profile
                assert p is not None
                loop_s = (res.measure_end_ns - res.measure_start_ns) / 1e9
                print(
                    f"  {name}: timed loop {loop_s:.2f} s ({a.iterations} iterations); "
                    f"profiling pass {p.wall_ns / 1e9:.2f} s ({p.iterations} runs + 1 warm-up, "
                    f"own session/compile), {100 * p.wall_ns / 1e9 / loop_s:.0f}% of the loop; "
                    f"{len(p.rows)} operators"
                )
    finally:
        agent.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        model = generate_cnn(Path(tmp), size="small").onnx_path
        asyncio.run(measure(model, a, Path(tmp)))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
