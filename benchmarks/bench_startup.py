"""Start-up cost: what a user scripting many small benchmarks pays per command.

Three commands are timed as fresh processes, wall clock, in interleaved rounds (A B C A B C ...)
because a single round on a shared machine swings by tens of percent:

* ``bare``: a Python script that does what ``rigbench bench`` does for the user, and nothing
  else: import onnxruntime, load the tiny CNN, 10 warm-up and 200 timed iterations;
* ``bench``: ``rigbench bench tiny.onnx -n 200 --warmup 10`` (a local agent started and stopped,
  a worker process for the job, the result stored; one store for all rounds, as a script that
  benchmarks many models uses one);
* ``help``: ``rigbench --help``.

Printed: the median wall time of each, ``bench / bare`` and the load average seen while they
ran; and the CPU time (user + system) each used with every process it started (the agent, the
job's worker), which a loaded machine inflates far less than wall time: on a shared machine it
says where the time goes when the wall-clock ratio is mostly the queue for a core.
Targets (wall clock): ``rigbench --help`` <= 0.25 s; ``bench / bare`` <= 3.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--rounds 7]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigbench.controller.modelgen import generate_cnn

BARE = r"""
import sys, time, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
feeds = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)}
names = [o.name for o in s.get_outputs()]
for _ in range(10): s.run(names, feeds)
lat = []
for _ in range(200):
    t0 = time.perf_counter_ns(); s.run(names, feeds); lat.append(time.perf_counter_ns() - t0)
print(f"p50 {np.median(lat) / 1e6:.3f} ms")
"""

RIGBENCH = shutil.which("rigbench", path=str(Path(sys.executable).parent)) or "rigbench"


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the command with every descendant it waited for."""
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0, _children_cpu_s() - cpu0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="rigbench-startup-") as tmp:
        root = Path(tmp)
        model = generate_cnn(root / "models", size="tiny").onnx_path
        commands = {
            "bare": [sys.executable, "-c", BARE, str(model)],
            "bench": [RIGBENCH, "bench", str(model), "-n", "200", "--warmup", "10"],
            "help": [RIGBENCH, "--help"],
        }
        env["RIGBENCH_STORE"] = str(root / "store.duckdb")
        # One untimed round: the store made, the compile cache, page cache and .pyc files warm.
        for args in commands.values():
            timed(args, root, env)
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        loads = []
        for r in range(a.rounds):
            for name, args in commands.items():
                wall, cpu = timed(args, root, env)
                times[name].append(wall)
                cpus[name].append(cpu)
            loads.append(os.getloadavg()[0])
            print(
                f"round {r + 1}: "
                + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
                + f" (load {loads[-1]:.2f})",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    ratio = med["bench"] / med["bare"]
    print(
        f"\nmedians of {a.rounds} interleaved rounds: bare script {med['bare']:.3f} s, "
        f"rigbench bench {med['bench']:.3f} s, rigbench --help {med['help']:.3f} s"
    )
    print(
        f"bench / bare: {ratio:.2f} (target <= 3); --help: {med['help']:.3f} s (target <= 0.25 s)"
    )
    print(
        f"CPU (user + system, with child processes), medians: bare {cpu['bare']:.3f} s, "
        f"bench {cpu['bench']:.3f} s ({cpu['bench'] / cpu['bare']:.2f}x), "
        f"--help {cpu['help']:.3f} s"
    )
    print(f"load average while measuring: median {statistics.median(loads):.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
