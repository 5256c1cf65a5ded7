"""Ten consecutive ``rigbench bench`` runs of the tiny CNN against one persistent agent.

A lab board's agent outlives every controller. Each run leases the device; before runs
released their lease at the end, every run after the first waited for the previous one's
lease to lapse (121 s each with the default ``lease_ttl_s``). Now a run releases its lease
when it ends, so the next starts at once.

Peer, measured in the same run and interleaved (A B A B ...): the same ``rigbench bench``
against the inventory's ``local`` device, whose agent each run starts itself (no lease can
be left over). Target: the persistent agent's runs take no longer than the local ones.

Run: ``.venv/bin/python benchmarks/bench_persistent_agent.py [--runs 10] [--iterations 200]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigbench.controller.modelgen import generate_cnn


def start_agent(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = home / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rigbench", "agent", "serve", "--port", "0"]
        + ["--home", str(home), "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not port_file.exists():  # the agent writes it once it serves
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the persistent agent did not start")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def bench(model: Path, tmp: Path, inventory: Path, device: str, iterations: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rigbench", "bench", str(model), "-n", str(iterations)]
        + ["--device", device, "--inventory", str(inventory), "--format", "json"]
        + ["--store", str(tmp / "rb.duckdb"), "--work", str(tmp / "work")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rigbench-bench-persistent-") as d:
        tmp = Path(d)
        model = generate_cnn(tmp / "model", size="tiny").onnx_path
        home = tmp / "board-home"
        home.mkdir()
        agent, port = start_agent(home)
        inventory = tmp / "inventory.yaml"
        inventory.write_text(
            "devices:\n"
            f"  - {{name: board, class: x86, grpc: {{address: '127.0.0.1:{port}'}}}}\n"
            "  - {name: local, class: local, local: {}}\n"
        )
        persistent: list[float] = []
        local: list[float] = []
        try:
            for i in range(args.runs):
                persistent.append(bench(model, tmp, inventory, "board", args.iterations))
                local.append(bench(model, tmp, inventory, "local", args.iterations))
                print(
                    f"run {i + 1:2d}: persistent agent {persistent[-1]:6.2f} s   "
                    f"local agent {local[-1]:6.2f} s",
                    flush=True,
                )
        finally:
            agent.terminate()
            agent.wait()
    after_first = persistent[1:] or persistent
    p, q = statistics.median(after_first), statistics.median(local[1:] or local)
    print(
        f"\n{args.runs} consecutive `rigbench bench -n {args.iterations}` of the tiny CNN: "
        f"persistent agent total {sum(persistent):.1f} s, median of runs 2..{args.runs} "
        f"{p:.2f} s (max {max(after_first):.2f} s); local agent median {q:.2f} s; "
        f"ratio {p / q:.2f} (target <= 1: no wait beyond the benchmark's own work; "
        "before leases were released: 121 s per run after the first)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
