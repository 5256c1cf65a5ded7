"""One controller driving many agents, and artifact upload speed, on loopback.

Part 1 starts N agent servers (default 200) in one separate "farm" process (in-process
agent servers; each job still runs in its own worker process, as on a real board), then runs
one job of the trivial generated model (``micro``, ~3 KB; ``--size`` picks another) on every
agent from this process. It prints the controller's CPU time per job (this process only: the
farm and the workers are elsewhere), events per second, and the controller's peak memory.
Target: overhead <= 5 ms per job.

Part 2 uploads a 100 MB artifact to one agent and prints MB/s, then shows that a second run
uploads 0 bytes. Target: >= 200 MB/s on loopback.

Run: ``.venv/bin/python benchmarks/bench_fleet.py [--agents 200] [--upload-mb 100]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigbench.agent.server import AgentConfig, create_server
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.dispatch import Dispatcher, expand_jobs, new_run_id
from rigbench.controller.inventory import Inventory
from rigbench.controller.modelgen import SIZES
from rigbench.controller.plan import Plan
from rigbench.controller.prepare import prepare_model
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import Store
from rigbench.digest import sha256_file


async def serve_farm(n: int, home: Path, ports_file: Path) -> None:
    agents = []
    for i in range(n):
        cfg = AgentConfig(home=home / f"a{i}", port=0)
        agents.append(await create_server(cfg))
    ports_file.write_text(json.dumps([a.port for a in agents]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for a in agents:
        await a.server.stop(grace=1)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


VARIANTS = ["fp32", "ort-basic", "ort-extended", "fp16"]


def fleet_part(n: int, tmp: Path, jobs_per_agent: int = 1, size: str = "micro") -> None:
    ports_file = tmp / "ports.json"
    farm = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-farm",
            str(n),
            "--home",
            str(tmp / "farm"),
            "--ports-file",
            str(ports_file),
        ]
    )
    try:
        while not ports_file.exists():
            if farm.poll() is not None:
                raise SystemExit("the agent farm failed to start")
            time.sleep(0.2)
        ports = json.loads(ports_file.read_text())
        inv = Inventory.model_validate(
            {
                "devices": [
                    {
                        "name": f"dev{i:03d}",
                        "class": "x86",
                        "grpc": {"address": f"127.0.0.1:{p}"},
                        "connect_timeout_s": 120,
                        "job_timeout_s": 600,
                    }
                    for i, p in enumerate(ports)
                ]
            }
        )
        plan = Plan.model_validate(
            {
                "name": "fleet-bench",
                "models": [
                    {
                        "name": "cnn",
                        "generate": {"size": size},
                        "variants": VARIANTS[:jobs_per_agent],
                        "accuracy": {"samples": 0},
                    }
                ],
                "runtimes": [{"name": "ort", "runtime": "onnxruntime", "threads": 1}],
                "measurement": {"warmup_iterations": 1, "min_iterations": 10, "min_duration_s": 0},
                "telemetry": {"enabled": False},
                "retries": 0,
            }
        )
        store = Store(tmp / "fleet.duckdb")
        run_id = new_run_id()
        store.begin_run(run_id, "run", plan.name, plan.model_dump_json(), plan.digest())
        model = prepare_model(plan.models[0], tmp / "work", store)
        model_kb = sum(p.stat().st_size for p in model.files().values()) / 1024
        jobs = expand_jobs(run_id, plan, inv.devices, [model])
        from rigbench.controller.store.db import JobRecord

        store.record_jobs(
            [
                JobRecord(
                    j.job_id,
                    run_id,
                    j.job_key,
                    j.device.name,
                    "cnn",
                    j.variant.name,
                    j.variant.sha256,
                    "ort",
                    "onnxruntime",
                    j.scenario.name,
                    "{}",
                )
                for j in jobs
            ]
        )
        cpu0, t0 = cpu_s(), time.perf_counter()
        outcome = asyncio.run(
            Dispatcher(store, run_id, tmp / "work", ProgressPrinter(quiet=True), retries=0).run(
                jobs
            )
        )
        wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
        print(
            f"agents: {n} (in one farm process), jobs: {len(jobs)}, stored: {outcome.stored}, "
            f"failed: {len(outcome.failed)}, unreachable: {len(outcome.unreachable)}; "
            f"model: generated {size} CNN, {model_kb:.0f} KB uploaded to each agent"
        )
        print(
            f"wall time: {wall:.1f} s (dominated by {n} worker processes on this machine's "
            f"{os.cpu_count()} cores)"
        )
        print(f"controller CPU per job: {cpu / len(jobs) * 1e3:.2f} ms (target <= 5 ms)")
        print(f"events received: {outcome.events}, {outcome.events / wall:.0f} events/s")
        print(f"controller peak RSS: {peak_rss_mb():.0f} MB")
    finally:
        farm.send_signal(signal.SIGTERM)
        farm.wait(timeout=60)


async def upload_part(mb: int, tmp: Path) -> None:
    art = tmp / "big.bin"
    with open(art, "wb") as f:
        f.write(os.urandom(mb << 20))
    digest = sha256_file(art)
    agent = await create_server(AgentConfig(home=tmp / "upload-agent", port=0))
    try:
        async with AgentClient(ChannelConfig(f"127.0.0.1:{agent.port}")) as c:
            t0 = time.perf_counter()
            sent = await c.ensure_artifacts({digest: art})
            dt = time.perf_counter() - t0
            again = await c.ensure_artifacts({digest: art})
        print(
            f"upload of {mb} MB: {sent / 2**20:.0f} MB in {dt:.2f} s = {sent / 2**20 / dt:.0f} "
            "MB/s (agent in this process; target >= 200 MB/s)"
        )
        print(f"second run uploaded {again} bytes")
    finally:
        await agent.server.stop(grace=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--upload-mb", type=int, default=100)
    ap.add_argument("--jobs-per-agent", type=int, default=1, choices=range(1, len(VARIANTS) + 1))
    ap.add_argument(
        "--size",
        default="micro",
        choices=SIZES,
        help="generated model: micro (~3 KB, the trivial model) or a larger one, whose upload "
        "to every agent then counts in the controller's CPU",
    )
    ap.add_argument("--serve-farm", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--ports-file", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve_farm:
        asyncio.run(serve_farm(a.serve_farm, a.home, a.ports_file))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(upload_part(a.upload_mb, Path(tmp)))
        fleet_part(a.agents, Path(tmp), a.jobs_per_agent, a.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
