"""Plans, inventories and real controller processes for end-to-end tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb


def write_inventory(path: Path, devices: dict[str, str], extra: str = "") -> Path:
    lines = ["devices:"]
    for name, address in devices.items():
        lines.append(
            f"  - name: {name}\n    class: x86\n    grpc: {{address: '{address}'}}\n"
            f"    connect_timeout_s: 5\n    wait_timeout_s: 5{extra}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def write_plan(path: Path, variants: list[str], min_duration_s: float = 0.0) -> Path:
    path.write_text(
        "name: fleet\n"
        "models:\n"
        "  - name: cnn\n"
        "    generate: {size: tiny}\n"
        f"    variants: [{', '.join(variants)}]\n"
        "    accuracy: {samples: 0}\n"
        "runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]\n"
        f"measurement: {{min_iterations: 20, min_duration_s: {min_duration_s}, "
        "warmup_iterations: 1, max_duration_s: 60}\n"
        "telemetry: {enabled: false}\n"
        "retries: 2\n"
    )
    return path


def controller(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rigbench",
            *args,
            "--store",
            str(tmp_path / "rb.duckdb"),
            "--work",
            str(tmp_path / "work"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def query(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "rb.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout_s: float = 120) -> list[str]:
    """Read the controller's output until a line matches; returns the lines read."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")
