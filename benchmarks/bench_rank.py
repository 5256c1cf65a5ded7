"""How long `rigbench rank` and the HTML report take on a store with 10 million latency samples.

Builds one run in a fresh DuckDB store: many devices (cloud, owned with a power sensor, owned
with only a nameplate, simulated, no cost) x compiled variants, 10 million per-iteration
samples in all (lognormal with a slow tail, like real latency), accuracy rows, and soak jobs
with telemetry. Samples go in through DuckDB numpy registration, as `Store.write_batch` does.
Then it times, as medians of a few runs:

* ``rank`` in this process (store open, queries, ranking, rendering the table),
* ``rigbench rank`` as a command (adds Python start-up and imports),
* the HTML report in this process (ranking + histograms + timelines + rendering).

Target: rank <= 2 s. Run: ``.venv/bin/python benchmarks/bench_rank.py [--samples 10000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np

from rigbench.controller.ranking import Constraints, RankRequest, rank
from rigbench.controller.ranking.bundle import build_bundle
from rigbench.controller.store import Store
from rigbench.controller.store.db import ResultRecord, now
from rigbench.controller.store.latency import latency_stats
from rigbench.reports.html import render_html
from rigbench.reports.rank import render_text

VARIANTS = (
    "fp32",
    "ort-extended",
    "fp16",
    "int8-dynamic",
    "int8-static",
    "tflite-fp32",
    "tflite-int8",
    "tflite-fp16",
)
COSTS = (
    {"hourly_usd": 1.006},
    {"purchase_usd": 80.0, "lifetime_years": 3.0, "electricity_usd_per_kwh": 0.30},
    {
        "purchase_usd": 650.0,
        "lifetime_years": 4.0,
        "electricity_usd_per_kwh": 0.30,
        "nameplate_w": 28.0,
    },
    {"purchase_usd": 499.0, "lifetime_years": 3.0, "electricity_usd_per_kwh": 0.30},
    None,
)
RUN = "bench-run"
SOAK_EVERY = 25  # every 25th job is a soak job with telemetry


def build_store(path: Path, samples: int, devices: int, seed: int = 0) -> int:
    """Write one run with ``samples`` latency samples over devices x variants; returns jobs."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    store.begin_run(RUN, "run", "bench", None, None)
    jobs = [(f"dev{d:03d}", v) for d in range(devices) for v in VARIANTS]
    per_job = samples // len(jobs)
    with store.transaction() as con:
        for d in range(devices):
            cost = COSTS[d % len(COSTS)]
            simulated = d % 7 == 3
            con.execute(
                "INSERT INTO devices VALUES (?, ?, 'x86', '[]', 'grpc', ?, NULL, ?, ?)",
                [
                    RUN,
                    f"dev{d:03d}",
                    json.dumps({"simulated": simulated}),
                    simulated,
                    json.dumps(cost) if cost else None,
                ],
            )
    for i, (device, variant) in enumerate(jobs):
        d = int(device[3:])
        n = per_job + (samples - per_job * len(jobs) if i == len(jobs) - 1 else 0)
        median_ns = 1e6 * (0.5 + (d % 13) * 0.7) * (1.0 + VARIANTS.index(variant) * 0.15)
        lat = rng.lognormal(np.log(median_ns), 0.12, n)
        tail = rng.random(n) < 0.01
        lat[tail] *= rng.uniform(2, 6, int(tail.sum()))
        lat = lat.astype(np.int64)
        _store_job(store, f"{RUN}.{i:05d}", device, variant, d, lat, i % SOAK_EVERY == 0, rng)
    return len(jobs)


def _store_job(
    store: Store,
    job_id: str,
    device: str,
    variant: str,
    d: int,
    lat: np.ndarray,
    soak: bool,
    rng: np.random.Generator,
) -> None:
    st = latency_stats(lat)
    power = None if COSTS[d % len(COSTS)] in (None, COSTS[2]) else 4000.0 + 300 * (d % 9)
    scenario = "soak" if soak else "single-stream"
    windows = None
    telemetry: list[tuple[int, str, str, float]] = []
    if soak:
        span_s = lat.sum() / 1e9
        windows = [
            {
                "window": k,
                "t_start_s": k * span_s / 20,
                "iterations": lat.size // 20,
                "throughput_ips": st.throughput_ips or 0.0,
                "p50_ms": st.p50_ns / 1e6,
                "p99_ms": st.p99_ns / 1e6,
            }
            for k in range(20)
        ]
        ts = np.linspace(0, lat.sum(), 2000).astype(np.int64)
        telemetry = [(int(t), "thermal:cpu", "temp_mc", 45000.0 + 20 * k) for k, t in enumerate(ts)]
        if power:
            telemetry += [(int(t), "rpi:total", "power_mw", power + rng.normal(0, 50)) for t in ts]
    row = {
        "job_id": job_id,
        "run_id": RUN,
        "device": device,
        "model": "cnn",
        "variant": variant,
        "runtime": "onnxruntime",
        "runtime_name": "ort-cpu",
        "runtime_version": "1.20",
        "providers_used": "CPUExecutionProvider",
        "scenario": scenario,
        "batch_size": 1,
        **st.columns(),
        "peak_rss_bytes": 60 << 20,
        "measure_start_ns": 0,
        "measure_end_ns": int(lat.sum()),
        "avg_power_mw": power,
        "energy_per_inference_mj": power / st.throughput_ips if power else None,
        "energy_source": "rpi:total" if power else None,
        "energy_coverage": 1.0 if power else None,
        "throttled": False if power else None,
        "soak_windows_json": json.dumps(windows) if windows else None,
        "simulated": d % 7 == 3,
        "created_at": now(),
    }
    err = 0.0 if "fp32" in variant else 0.004 if "fp16" in variant else 0.06
    accuracy = [
        {
            "output": "*",
            "max_abs_err": err,
            "mean_abs_err": err / 4,
            "cosine_similarity": 1 - err / 10,
            "n_samples": 8,
            "within_tolerance": True,
        }
    ]
    with store.transaction() as con:
        con.execute(
            "INSERT INTO jobs (job_id, run_id, job_key, device, model, variant, "
            "artifact_sha256, runtime_name, runtime, scenario, spec_json, status) "
            "VALUES (?, ?, ?, ?, 'cnn', ?, ?, 'ort-cpu', 'onnxruntime', ?, '{}', 'running')",
            [
                job_id,
                RUN,
                f"{device}/cnn/{variant}/ort-cpu/{scenario}",
                device,
                variant,
                "0" * 64,
                scenario,
            ],
        )
    store.write_batch([], [ResultRecord(row, lat, telemetry, [], accuracy)])


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {mem:.0f} GiB RAM, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build the store here and keep it")
    ap.add_argument(
        "--reuse", action="store_true", help="time the store kept at --keep without rebuilding"
    )
    a = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = a.keep or Path(tmp) / "bench.duckdb"
        if a.reuse and path.exists():
            print(f"store: reusing {path} ({path.stat().st_size / 2**20:.0f} MiB)")
        else:
            if path.exists():
                path.unlink()
            t0 = time.perf_counter()
            jobs = build_store(path, a.samples, a.devices)
            size = path.stat().st_size / 2**20
            print(
                f"store: {a.samples:,} latency samples in {jobs} jobs ({a.devices} devices x "
                f"{len(VARIANTS)} variants), {size:.0f} MiB, built in "
                f"{time.perf_counter() - t0:.0f} s"
            )
        store = Store(path)
        req = RankRequest(constraints=Constraints(latency_ms=8.0, percentile=99, max_error=0.05))
        rank_s, rank_all = median_time(lambda: render_text(rank(store, req)), a.repeats)
        print(
            f"rank (in process): median {rank_s:.2f} s of {a.repeats} "
            f"[{', '.join(f'{t:.2f}' for t in rank_all)}]; target <= 2 s: "
            f"{'met' if rank_s <= 2 else 'MISSED'}"
        )
        cmd = [
            sys.executable,
            "-m",
            "rigbench",
            "rank",
            "--store",
            str(path),
            "--latency-ms",
            "8",
            "--max-error",
            "0.05",
        ]
        cli_s, cli_all = median_time(
            lambda: subprocess.run(cmd, capture_output=True, check=False), 3
        )
        print(
            f"rigbench rank (command, incl. start-up): median {cli_s:.2f} s of 3 "
            f"[{', '.join(f'{t:.2f}' for t in cli_all)}]"
        )
        html: list[str] = []
        report_s, report_all = median_time(
            lambda: html.append(render_html(build_bundle(store, req))), 3
        )
        print(
            f"HTML report (in process): median {report_s:.2f} s of 3 "
            f"[{', '.join(f'{t:.2f}' for t in report_all)}], {len(html[-1]) / 2**20:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
