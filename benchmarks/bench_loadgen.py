"""rigbench's server and offline scenarios against MLPerf LoadGen's, on the same model,
executors, threads and p99 bound.

Both sides run the same generated CNN with onnxruntime: ``--concurrency`` sessions of
``--threads`` intra-op threads each, one request per sample (batch 1). LoadGen
(``mlcommons-loadgen``, the MLPerf reference load generator) drives a Python system under test
whose worker threads pull queries from a queue, as rigbench's executors do.

* **Server peak**: on each side the same search (``rigbench.agent.load.search.find_peak``:
  bracketing, then bisection to 3%) looks for the highest Poisson rate whose p99, measured
  from each query's scheduled arrival, stays within ``--bound-ms``. rigbench runs it inside
  one agent job (``kind: server, qps: auto``, a fresh worker process); LoadGen runs one test
  per step in one process, reading its own "99.00 percentile latency" and "Scheduled samples
  per second". A step holds when its p99 is within the bound (LoadGen's early-stopping and
  minimum-query rules are not part of the verdict: they are about an official submission's
  run length, not the latency). Printed: rigbench peak / LoadGen peak, target 0.95-1.05.
* **Offline**: all samples issued at once, ``--duration`` seconds: samples per second,
  target rigbench / LoadGen >= 0.98.
* **Fleet**: devices for ``--fleet-qps`` from rigbench's measured peak, from LoadGen's, and
  today's estimate from single-stream throughput at 70% headroom.

Rounds are interleaved (rigbench first in odd rounds, LoadGen first in even ones) and the
load average is printed around each: the development VM is shared, and a round there swings.

LoadGen is in the dev extra for x86-64 Linux (a 0.5 MB wheel with no dependencies; PyPI has
no wheel for other platforms, where this benchmark says so and skips).

Run: ``.venv/bin/python benchmarks/bench_loadgen.py [--rounds 3] [--duration 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rigbench.agent.jobs import (
    JobResult,
    JobSpec,
    LoadConfig,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.agent.load.search import REL_TOL
from rigbench.controller.client import AgentClient, ChannelConfig, sha256_file
from rigbench.controller.local_agent import start_local_agent
from rigbench.controller.modelgen import generate_cnn
from rigbench.controller.ranking.fleet import DEFAULT_HEADROOM, devices_needed

# The LoadGen side, in its own process (as rigbench's worker is): sessions, a queue, workers.
LOADGEN = r"""
import json, os, queue, sys, threading
import numpy as np, onnxruntime as ort
import mlperf_loadgen as lg
from rigbench.agent.load.search import Step, find_peak

a = json.loads(sys.argv[1])
so = ort.SessionOptions(); so.intra_op_num_threads = a["threads"]; so.log_severity_level = 3
sessions = [ort.InferenceSession(a["model"], so, providers=["CPUExecutionProvider"])
            for _ in range(a["concurrency"])]
inp = sessions[0].get_inputs()[0]
feeds = {inp.name: np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)}
names = [o.name for o in sessions[0].get_outputs()]

def warm(s):
    for _ in range(a["warmup"]):
        s.run(names, feeds)
ws = [threading.Thread(target=warm, args=(s,)) for s in sessions]
[t.start() for t in ws]; [t.join() for t in ws]

q = queue.SimpleQueue()
def worker(s):
    while True:
        sample = q.get()
        if sample is None:
            return
        s.run(names, feeds)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, 0, 0)])
workers = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
[t.start() for t in workers]

def issue(samples):
    for s in samples:
        q.put(s)

sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(1, 1, lambda x: None, lambda x: None)
runs = [0]

def test(scenario, qps, duration_ms):
    st = lg.TestSettings()
    st.mode = lg.TestMode.PerformanceOnly
    st.min_duration_ms = duration_ms
    st.min_query_count = a["min_queries"]
    st.schedule_rng_seed = runs[0]
    if scenario == "server":
        st.scenario = lg.TestScenario.Server
        st.server_target_qps = qps
        st.server_target_latency_ns = a["bound_ns"]
        st.server_target_latency_percentile = 0.99
    else:
        st.scenario = lg.TestScenario.Offline
        st.offline_expected_qps = qps
    out = os.path.join(a["out"], f"run{runs[0]}")
    runs[0] += 1
    os.makedirs(out, exist_ok=True)
    ls = lg.LogSettings()
    ls.log_output.outdir = out
    ls.log_output.copy_summary_to_stdout = False
    ls.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, st, ls)
    figures = {}
    for line in open(os.path.join(out, "mlperf_log_summary.txt")):
        key, sep, value = line.partition(":")
        if sep:
            figures[key.strip()] = value.strip()
    return figures

if a["mode"] == "offline":
    f = test("offline", a["expected_qps"], a["duration_ms"])
    print(json.dumps({"samples_per_s": float(f["Samples per second"])}))
else:
    probe = test("offline", a["expected_qps"], 500)
    steps = []
    def step(qps):
        f = test("server", qps, a["duration_ms"])
        p99 = float(f["99.00 percentile latency (ns)"])
        offered = float(f["Scheduled samples per second"])
        steps.append({"target": qps, "offered": offered, "p99_ns": p99})
        return Step(qps, offered, p99 <= a["bound_ns"])
    search = find_peak(step, 0.9 * float(probe["Samples per second"]), rel_tol=a["rel_tol"])
    peak = search.peak
    print(json.dumps({
        "peak_qps": peak.achieved_qps if peak else None,
        "steps": steps,
        "reason": search.reason,
    }))
for _ in workers:
    q.put(None)
lg.DestroyQSL(qsl)
lg.DestroySUT(sut)
"""


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run_loadgen(model: Path, mode: str, a: argparse.Namespace, out: Path, expected: float) -> Any:
    args = {
        "model": str(model),
        "mode": mode,
        "concurrency": a.concurrency,
        "threads": a.threads,
        "warmup": a.warmup,
        "bound_ns": int(a.bound_ms * 1e6),
        "duration_ms": int(a.duration * 1000),
        "min_queries": a.min_queries,
        "expected_qps": expected,
        "rel_tol": REL_TOL,
        "out": str(out),
    }
    done = subprocess.run(
        [sys.executable, "-c", LOADGEN, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"LoadGen side failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Rigbench:
    """rigbench's side: one persistent local agent, one job per measurement."""

    def __init__(self, client: AgentClient, digest: str, a: argparse.Namespace) -> None:
        self.client, self.digest, self.a = client, digest, a
        self.n = 0

    async def job(self, load: LoadConfig, threads: int) -> JobResult:
        a = self.a
        self.n += 1
        spec = JobSpec(
            job_id=f"loadgen-bench-{os.getpid()}-{self.n}",
            artifact_sha256=self.digest,
            model_format="onnx",
            runtime=RuntimeConfig("onnxruntime", ("cpu",), intra_op_threads=threads),
            measurement=MeasurementConfig(
                warmup_iterations=a.warmup,
                min_iterations=a.min_queries,
                min_duration_s=a.duration,
                max_duration_s=max(60.0, 4 * a.duration),
            ),
            telemetry=TelemetryConfig(enabled=False),
            load=load,
        )
        result = None
        async for e in self.client.run(spec, timeout_s=3600):
            if isinstance(e.body, JobResult):
                result = e.body
        if result is None:
            raise SystemExit("the rigbench job failed")
        return result

    async def server_peak(self) -> float | None:
        a = self.a
        r = await self.job(
            LoadConfig(
                kind="server",
                concurrency=(a.concurrency,),
                threads=(a.concurrency * a.threads,),
                latency_ms=a.bound_ms,
                percentile=99.0,
                duration_s=a.duration,
            ),
            a.threads,
        )
        assert r.load is not None
        head = r.load.points[r.load.headline]
        if not head.held or head.schedule_ns <= 0:
            return None
        return head.planned / (head.schedule_ns / 1e9)

    async def offline(self) -> float:
        a = self.a
        r = await self.job(
            LoadConfig(
                kind="offline",
                concurrency=(a.concurrency,),
                threads=(a.concurrency * a.threads,),
                duration_s=a.duration,
            ),
            a.threads,
        )
        assert r.load is not None
        p = r.load.points[r.load.headline]
        return len(p.latencies_ns) * p.batch / ((p.end_ns - p.begin_ns) / 1e9)

    async def single_stream_ips(self) -> float:
        r = await self.job(LoadConfig(), self.a.threads)
        return len(r.latencies_ns) / ((r.measure_end_ns - r.measure_start_ns) / 1e9)


async def rounds(model: Path, a: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    agent = await start_local_agent(tmp / "agent")
    digest = sha256_file(model)
    got: dict[str, list[float]] = {k: [] for k in ("rb_peak", "lg_peak", "rb_off", "lg_off")}
    got["ss_ips"] = []
    try:
        async with AgentClient(ChannelConfig(agent.address)) as c:
            await c.ensure_artifacts({digest: model})
            rb = Rigbench(c, digest, a)
            for r in range(a.rounds):
                before = loadavg()
                order = ("rb", "lg") if r % 2 == 0 else ("lg", "rb")
                for side in order:
                    if side == "rb":
                        off = await rb.offline()
                        peak = await rb.server_peak()
                        got["rb_off"].append(off)
                        got["rb_peak"].append(peak or math.nan)
                    else:
                        out = tmp / f"loadgen-{r}"
                        off_lg = run_loadgen(model, "offline", a, out / "offline", 1000.0)
                        got["lg_off"].append(off_lg["samples_per_s"])
                        srv = run_loadgen(
                            model, "server", a, out / "server", off_lg["samples_per_s"]
                        )
                        got["lg_peak"].append(srv["peak_qps"] or math.nan)
                got["ss_ips"].append(await rb.single_stream_ips())
                print(
                    f"round {r + 1} ({' then '.join(order)}): server peak rigbench "
                    f"{got['rb_peak'][-1]:.1f} / LoadGen {got['lg_peak'][-1]:.1f} req/s "
                    f"(ratio {got['rb_peak'][-1] / got['lg_peak'][-1]:.3f}); offline rigbench "
                    f"{got['rb_off'][-1]:.1f} / LoadGen {got['lg_off'][-1]:.1f} samples/s "
                    f"(ratio {got['rb_off'][-1] / got['lg_off'][-1]:.3f}); single-stream "
                    f"{got['ss_ips'][-1]:.1f} inf/s; load average {before} -> {loadavg()}",
                    flush=True,
                )
    finally:
        agent.stop()
    return got


def _median(xs: list[float]) -> float:
    ok = [x for x in xs if not math.isnan(x)]
    return statistics.median(ok) if ok else math.nan


def _verdict(ratio: float, lo: float, hi: float | None) -> str:
    if math.isnan(ratio):
        return "no figure"
    if ratio < lo:
        return f"MISSED: {(lo - ratio) * 100:.1f} points below {lo}"
    if hi is not None and ratio > hi:
        return f"MISSED: {(ratio - hi) * 100:.1f} points above {hi}"
    return "met"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per load point")
    ap.add_argument("--bound-ms", type=float, default=25.0, help="the p99 bound")
    ap.add_argument("--concurrency", type=int, default=2, help="executors (sessions)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per executor")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--min-queries", type=int, default=200)
    ap.add_argument("--size", default="small", help="generated CNN: micro, tiny, small")
    ap.add_argument("--fleet-qps", type=float, default=2000.0)
    a = ap.parse_args()
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        print(
            "skipped: mlperf_loadgen is not installed (pip install mlcommons-loadgen; PyPI has "
            "wheels for x86-64 Linux only)"
        )
        return 0
    print(f"load average at start: {loadavg()} ({os.cpu_count()} CPUs; the machine is shared)")
    with tempfile.TemporaryDirectory() as tmp:
        model = generate_cnn(Path(tmp) / "models", size=a.size).onnx_path
        got = asyncio.run(rounds(model, a, Path(tmp)))
    rb_peak, lg_peak = _median(got["rb_peak"]), _median(got["lg_peak"])
    rb_off, lg_off = _median(got["rb_off"]), _median(got["lg_off"])
    ss = _median(got["ss_ips"])
    peak_ratios = [r / g for r, g in zip(got["rb_peak"], got["lg_peak"])]
    off_ratios = [r / g for r, g in zip(got["rb_off"], got["lg_off"])]
    print(
        f"\nmodel: generated {a.size} CNN, onnxruntime CPU, {a.concurrency} executor(s) x "
        f"{a.threads} thread(s), batch 1, p99 bound {a.bound_ms:g} ms, {a.duration:g} s per "
        f"point, {a.rounds} interleaved rounds; load average at the end: {loadavg()}"
    )
    print(f"server peak (median): rigbench {rb_peak:.1f} req/s, LoadGen {lg_peak:.1f} req/s")
    ratio = rb_peak / lg_peak
    print(
        f"  ratio of medians {ratio:.3f} (median of per-round ratios "
        f"{_median(peak_ratios):.3f}); target 0.95-1.05: {_verdict(ratio, 0.95, 1.05)}"
    )
    print(f"offline (median): rigbench {rb_off:.1f} samples/s, LoadGen {lg_off:.1f} samples/s")
    off_ratio = rb_off / lg_off
    print(
        f"  ratio of medians {off_ratio:.3f} (median of per-round ratios "
        f"{_median(off_ratios):.3f}); target >= 0.98: {_verdict(off_ratio, 0.98, None)}"
    )
    q = a.fleet_qps
    print(f"fleet for {q:g} req/s within p99 {a.bound_ms:g} ms:")
    if not math.isnan(rb_peak):
        print(f"  measured (rigbench peak {rb_peak:.1f}): {math.ceil(q / rb_peak)} device(s)")
    if not math.isnan(lg_peak):
        print(f"  from LoadGen's peak ({lg_peak:.1f}): {math.ceil(q / lg_peak)} device(s)")
    print(
        f"  today's estimate (single-stream {ss:.1f} inf/s at {DEFAULT_HEADROOM:.0%} headroom): "
        f"{devices_needed(q, ss, DEFAULT_HEADROOM)} device(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
