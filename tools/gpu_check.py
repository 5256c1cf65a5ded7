#!/usr/bin/env python3
"""One prepared check of rigbench on a real NVIDIA GPU: CPU, CUDA and TensorRT, profiled.

Run from the repository root with a plain interpreter (no virtualenv, no network needed):

    PYTHONPATH=<folder of dependencies> python3 tools/gpu_check.py [--out gpu-check] [-n 300]

Needs: numpy, grpcio, grpcio-health-checking, protobuf, typer, duckdb, pydantic, pyyaml,
onnx and onnxruntime-gpu; nvidia-ml-py and rich are optional (without nvidia-ml-py the agent
reads the GPU's sensors through nvidia-smi; typer prints plainly without rich). It checks them
first and says which are missing. rigbench itself is used from this source tree: the script lays out
the ``rigbench`` package as setup.py maps it (links under OUT/pkg), puts that first on
PYTHONPATH and runs rigbench from OUT/work.

What it does, all printed and written to OUT/gpu_check.log:
1. generates the small CNN (ONNX only; the generator's own weights);
2. ``rigbench bench`` on the CPU, CUDA and TensorRT execution providers with ``--profile``
   (TensorRT again with ``--allow-cpu-fallback``), each into OUT/rb.duckdb; a provider that
   is absent or fails to initialise is recorded as that outcome, and the script goes on;
3. ``rigbench ops`` (top operators and placement) for every stored job, and ``ops --compare``
   of CUDA against CPU;
4. NVML telemetry as the agent sampled it during the CUDA job (``rigbench timeline``), and
   ``rigbench devices`` (the agent's sensors); ``rank`` and the HTML report (OUT/report.html),
   which show the share of time off the requested unit;
5. raw ``enable_profiling`` JSON of a CUDA and a TensorRT session saved under OUT/profiles,
   to become captured fixtures (tests/fixtures/profiles).
Each command has a time limit; the whole check is meant to finish in under 3 minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEEDED = {
    "numpy": "numpy",
    "grpc": "grpcio",
    "grpc_health": "grpcio-health-checking",
    "google.protobuf": "protobuf",
    "typer": "typer",
    "duckdb": "duckdb",
    "pydantic": "pydantic",
    "yaml": "pyyaml",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime-gpu",
}
OPTIONAL = {"pynvml": "nvidia-ml-py (NVML's Python binding)"}
LAYOUT = {  # package -> folder, as setup.py maps them
    "rigbench": "rigbench",
    "rigbench/agent": "agent",
    "rigbench/controller": "controller",
    "rigbench/reports": "reports",
    "rigbench/v1": "protos/rigbench/v1",
}
LIMIT_S = 75.0


class Log:
    def __init__(self, path: Path) -> None:
        self.f = path.open("w")
        self.t0 = time.monotonic()

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.f.write(text + "\n")
        self.f.flush()

    def section(self, title: str) -> None:
        self(f"\n=== [{time.monotonic() - self.t0:6.1f} s] {title} ===")


def lay_out_package(pkg: Path) -> None:
    """OUT/pkg/rigbench/... as links into this tree, so ``import rigbench.agent`` works."""
    if pkg.exists():
        shutil.rmtree(pkg)
    root = pkg / "rigbench"
    root.mkdir(parents=True)
    for f in (REPO / "rigbench").iterdir():
        if f.suffix == ".py":
            (root / f.name).symlink_to(f)
    for name, folder in LAYOUT.items():
        if name != "rigbench":
            (pkg / name).symlink_to(REPO / folder, target_is_directory=True)


def missing_modules(wanted: dict[str, str] = NEEDED) -> list[str]:
    out = []
    for mod, dist in wanted.items():
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(f"{dist} (import {mod})")
    return out


def run(log: Log, env: dict[str, str], *args: str, limit: float = LIMIT_S) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "rigbench", *args]
    log(f"$ rigbench {' '.join(args)}")
    try:
        # Not from the repository root: there `python -m` would find the source tree's bare
        # rigbench/ folder (no agent/controller inside) before the laid-out package.
        r = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=limit, cwd=env["RIGBENCH_WORK"]
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        log(out.rstrip())
        log(f"(timed out after {limit:.0f} s)")
        return 124, out
    text = (r.stdout + r.stderr).rstrip()
    log(text)
    log(f"(exit code {r.returncode})")
    return r.returncode, r.stdout


def last_job(store: Path) -> dict[str, str] | None:
    """The newest job in the store, with its status and, if it failed, why."""
    if not store.exists():
        return None
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        cur = con.execute(
            "SELECT job_id, status, error_kind, error_message FROM jobs "
            "ORDER BY coalesce(finished_at, started_at) DESC NULLS LAST LIMIT 1"
        )
        row = cur.fetchone()
        names = [d[0] for d in cur.description or []]
    finally:
        con.close()
    return dict(zip(names, row)) if row else None


def raw_profiles(log: Log, model: Path, out: Path) -> None:
    """enable_profiling JSON of plain ORT sessions, kept as captured formats."""
    import numpy as np
    import onnxruntime as ort

    out.mkdir(exist_ok=True)
    available = ort.get_available_providers()
    log(f"onnxruntime {ort.__version__}, available providers: {', '.join(available)}")
    for name, providers in (
        ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (
            "tensorrt",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
    ):
        if providers[0] not in available:
            log(f"{name}: {providers[0]} is not in this onnxruntime build; no raw profile")
            continue
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = str(out / f"ort_{name}")
        try:
            s = ort.InferenceSession(str(model), so, providers=providers)
            i = s.get_inputs()[0]
            x = np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)
            for _ in range(3):
                s.run(None, {i.name: x})
            path = s.end_profiling()
            log(f"{name}: session providers {s.get_providers()}; raw profile {path}")
        except Exception as e:  # record the outcome, whatever it is
            log(f"{name}: session failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-check"))
    ap.add_argument("-n", "--iterations", type=int, default=300)
    a = ap.parse_args()
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "gpu_check.log")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    log(f"rigbench GPU check: {started}, python {sys.version.split()[0]}")
    missing = missing_modules()
    if missing:
        log("missing Python packages (put them on PYTHONPATH): " + ", ".join(missing))
        return 2
    for what in missing_modules(OPTIONAL):
        log(f"note: {what} is not installed: the agent reads the GPU through nvidia-smi")
    pkg = out / "pkg"
    lay_out_package(pkg)
    sys.path.insert(0, str(pkg))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pkg), os.environ.get("PYTHONPATH", "")]),
    }
    env["RIGBENCH_STORE"] = str(out / "rb.duckdb")
    env["RIGBENCH_WORK"] = str(out / "work")
    for p in (out / "rb.duckdb", out / "work"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    (out / "work").mkdir()

    log.section("machine")
    if shutil.which("nvidia-smi"):
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,power.limit",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        log(f"nvidia-smi: {r.stdout.strip() or r.stderr.strip()}")
    log(f"load average: {os.getloadavg()}")

    log.section("model: the generated small CNN (ONNX)")
    from rigbench.controller.modelgen.onnx_cnn import build_onnx
    from rigbench.controller.modelgen.weights import get_spec, make_weights

    model = out / "cnn-small.onnx"
    model.write_bytes(
        build_onnx(make_weights(get_spec("small"), seed=0, slowdown=0), input_name="input",
                   output_name="logits", dynamic_batch=False, metadata={})
    )  # fmt: skip
    log(f"{model} ({model.stat().st_size} bytes)")

    log.section("raw onnxruntime profiles (captured formats)")
    raw_profiles(log, model, out / "profiles")

    log.section("rigbench devices (the agent's runtimes and sensors)")
    run(log, env, "devices")

    n = str(a.iterations)
    cases = [
        ("cpu", ["--provider", "cpu"]),
        ("cuda", ["--provider", "cuda"]),
        ("tensorrt", ["--provider", "tensorrt"]),
        ("tensorrt, CPU fallback allowed", ["--provider", "tensorrt", "--provider", "cuda",
                                             "--allow-cpu-fallback"]),
    ]  # fmt: skip
    jobs: dict[str, str] = {}
    for label, extra in cases:
        log.section(f"rigbench bench: {label}")
        code, _ = run(
            log, env, "bench", str(model), *extra, "-n", n, "--profile",
            limit=LIMIT_S if "tensorrt" not in label else 120.0,
        )  # fmt: skip
        job = last_job(out / "rb.duckdb")
        if job is None:
            log(f"outcome: no job was recorded (exit code {code})")
        elif job["status"] == "done":
            jobs[label] = job["job_id"]
            log(f"outcome: measured as job {job['job_id']}")
        else:
            log(
                f"outcome: {job['status']}: {job['error_kind']}: {job['error_message']} "
                f"(exit code {code})"
            )

    for label, job in jobs.items():
        log.section(f"rigbench ops: {label}")
        run(log, env, "ops", job, "--top", "12")
    if "cuda" in jobs and "cpu" in jobs:
        log.section("rigbench ops --compare: CPU (A) against CUDA (B)")
        run(log, env, "ops", jobs["cpu"], "--compare", jobs["cuda"], "--top", "12")
    if "cuda" in jobs:
        log.section("NVML telemetry of the CUDA job, as the agent sampled it")
        run(log, env, "timeline", jobs["cuda"], "--bucket", "0.5")
    log.section("all results")
    run(log, env, "results", "--wide")
    log.section("rank (placement: % time off the requested unit) and the HTML report")
    run(log, env, "rank", "--by", "latency")
    run(log, env, "report", "--html", str(out / "report.html"))
    log(f"\ndone in {time.monotonic() - log.t0:.0f} s; log: {out / 'gpu_check.log'}")
    if "cpu" not in jobs:  # the GPU cases may be absent; the CPU one never should fail
        log("the CPU case was not measured: rigbench itself did not work here")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
