"""Faults seen on real models and real farms, each reproduced with real processes.

Every test shows the outcome a user can trust: the right blame, the device released and
serving, every finished result stored exactly once (issue: "Right blame, nothing lost").
The fault table in docs/faults.md lists what each of these runs.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.modelgen import GeneratedModel
from tests.builders.processes import controller, query, wait_for_line, write_plan
from tests.thirdparty import thirdparty_model

pytestmark = pytest.mark.e2e

QUICK_MEASUREMENT = "measurement: {min_iterations: 20, min_duration_s: 0, warmup_iterations: 1}\n"


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    )
    return result.exit_code, result.output


def read(tmp_path: Path, *args: str) -> tuple[int, str]:
    """A command that only reads the store (rank, report, results)."""
    result = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "rb.duckdb")])
    return result.exit_code, result.output


def detector_plan(tmp_path: Path, tiny: GeneratedModel, runtimes: int = 3) -> Path:
    """The OCR detector at a size it cannot run, on several runtime entries, then a good model.

    Before: each failure was 'agent-restarted', retried twice, and after three the healthy
    device was quarantined and the good model behind them skipped.
    """
    det = thirdparty_model("ocr-detector")
    plan = tmp_path / "plan.yaml"
    entries = ", ".join(
        f"{{name: ort{i}, runtime: onnxruntime, threads: 1, graph_optimization: "
        f"{'all' if i % 2 else 'basic'}}}"
        for i in range(runtimes)
    )
    plan.write_text(
        "name: detector\n"
        "models:\n"
        f"  - {{name: det, path: {det}, variants: [fp32], accuracy: {{samples: 0}},\n"
        "     inputs: {x: {shape: [1, 3, 40, 40]}}}\n"
        f"  - {{name: good, path: {tiny.onnx_path}, variants: [fp32], accuracy: {{samples: 0}}}}\n"
        f"runtimes: [{entries}]\n" + QUICK_MEASUREMENT
    )
    return plan


def test_a_models_own_runtime_error_is_the_models_not_the_farms(tmp_path, tiny):
    code, out = invoke(tmp_path, "run", str(detector_plan(tmp_path, tiny)), "--quiet")
    assert code == 1, out  # a job failed for the model's own reasons; the farm is fine
    jobs = query(
        tmp_path,
        "SELECT model, status, error_kind, error_message, attempts FROM jobs ORDER BY model",
    )
    det = [j for j in jobs if j[0] == "det"]
    good = [j for j in jobs if j[0] == "good"]
    assert len(det) == 3 and len(good) == 3
    for _, status, kind, message, attempts in det:
        assert (status, kind, attempts) == ("failed", "runtime", 1)  # never retried
        # onnxruntime's own words reach the store
        assert "Non-zero status code returned while running Add node" in message
        assert "Attempting to broadcast an axis by a dimension other than 1" in message
    # the healthy device was not quarantined: the good model behind the failures ran
    assert [(s, k) for _, s, k, _, _ in good] == [("done", None)] * 3
    assert query(tmp_path, "SELECT count(*) FROM results WHERE model = 'good'") == [(3,)]
    assert "quarantined" not in out
    assert "runtime (the model's own error)" in out
    # rank and the report say what they miss, and whose fault it was
    note = "3 job(s) failed and are not ranked: 3 the model's own error (runtime)"
    code, ranked = read(tmp_path, "rank", "--model", "good")
    assert code == 0 and note in ranked, ranked
    code, report = read(tmp_path, "report", "--markdown")
    assert code == 0 and note in report, report


def test_nightly_calls_a_models_own_error_a_failure_not_a_farm_failure(tmp_path, tiny):
    code, out = invoke(
        tmp_path,
        "nightly",
        str(detector_plan(tmp_path, tiny, runtimes=1)),
        "--out",
        str(tmp_path / "nightly"),
        "--quiet",
    )
    assert code == 1, out  # not 2: the farm did not fail
    assert "FARM FAILURE" not in out
    assert "runtime (the model's own error)" in out


def persistent_inventory(tmp_path: Path, address: str) -> Path:
    """A lab board's agent that outlives every run; a long lease, no patience for a busy one."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n"
        f"  - {{name: board, class: x86, grpc: {{address: '{address}'}}, "
        "lease_ttl_s: 600, wait_timeout_s: 0}\n"
    )
    return inv


def test_a_second_bench_against_a_running_agent_starts_at_once(tmp_path, start_agent, tiny):
    """Before: each run's lease stayed for lease_ttl_s after it ended (121 s per bench)."""
    agent = start_agent()
    inv = persistent_inventory(tmp_path, agent.address)
    for _ in range(2):  # with wait_timeout_s 0, a lease left behind would fail the second
        code, out = invoke(
            tmp_path, "bench", str(tiny.onnx_path), "-n", "20", "--inventory", str(inv)
        )
        assert code == 0, out
    assert query(tmp_path, "SELECT count(*) FROM results") == [(2,)]


def test_a_run_interrupted_with_ctrl_c_releases_its_lease(tmp_path, start_agent, tiny):
    agent = start_agent()
    inv = persistent_inventory(tmp_path, agent.address)
    inv.write_text(inv.read_text().replace("wait_timeout_s: 0", "wait_timeout_s: 120"))
    plan = write_plan(tmp_path / "plan.yaml", ["fp32"], min_duration_s=1.5)
    first = controller(tmp_path, "run", str(plan), "--inventory", str(inv))
    wait_for_line(first, r"loading|warmup|measuring")  # progress may skip ahead under load
    first.send_signal(signal.SIGINT)  # Ctrl-C
    first.communicate(timeout=60)
    assert first.returncode != 0
    # The interrupted job finishes on the agent; then the device is free at once, not after
    # the 600 s lease (which the 120 s wait would not outlast).
    second = controller(tmp_path, "run", str(plan), "--inventory", str(inv), "--quiet")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
