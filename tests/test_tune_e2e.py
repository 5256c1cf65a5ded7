"""``rigbench tune`` end to end: a spawned local agent, a generated model, a real DuckDB file.

Every trial is a job of a run of kind ``tune``; the written plan is accepted by ``rigbench
run`` unchanged and measures exactly the recommended configuration; a resumed tune replays
the trials already stored instead of measuring them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.modelgen import GeneratedModel

pytestmark = pytest.mark.e2e

# Two variants x two ONNX Runtime graph optimisation levels on one thread: four configurations,
# of which
# 'basic' is several times slower than 'all' on the generated CNN.
SPACE = ["--variant", "fp32", "--variant", "fp16", "--runtime", "onnxruntime", "--threads", "1"]
KNOB = ["--set", "graph_optimization=basic,all"]


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    )
    return result.exit_code, result.output


def stored(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "rb.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_tune_recommends_a_measured_configuration_and_writes_a_plan_run_accepts(
    tmp_path: Path, tiny: GeneratedModel
) -> None:
    out_plan = tmp_path / "tuned.yaml"
    code, out = invoke(
        tmp_path, "tune", str(tiny.onnx_path), *SPACE, *KNOB, "--budget-s", "20",
        "--out", str(out_plan), "--format", "json", "-q",
    )  # fmt: skip
    assert code == 0, out
    report = json.loads(out[: out.rindex("}") + 1])
    (dev,) = report["devices"]
    assert dev["device"] == "local"
    rec = dev["recommended"]
    assert rec is not None and rec["status"] == "recommended"
    assert rec["objective_ci"][0] <= rec["objective"] <= rec["objective_ci"][1]
    assert rec["max_abs_err"] is not None  # accuracy measured once per variant, reused
    # Every trial is a job of the tune run, with its result in the store.
    (run_id, kind), *_ = stored(tmp_path, "SELECT run_id, kind FROM runs")
    assert kind == "tune"
    trials = sum(c["trials"] for c in dev["configurations"])
    assert stored(tmp_path, f"SELECT count(*) FROM results WHERE run_id = '{run_id}'") == [
        (trials,)
    ]
    # Accuracy rows only where a trial measured it: once per variant on these kernels.
    assert stored(
        tmp_path,
        f"SELECT r.variant, count(*) FROM accuracy a JOIN results r USING (job_id) "
        f"WHERE r.run_id = '{run_id}' AND a.output = '*' GROUP BY r.variant ORDER BY 1",
    ) == [("fp16", 1), ("fp32", 1)]
    # The written plan has exactly the recommendation, and run accepts it unchanged.
    plan = yaml.safe_load(out_plan.read_text())
    assert [r["name"] for r in plan["runtimes"]] == [rec["entry"]]
    assert plan["models"][0]["variants"] == [rec["variant"]]
    assert plan["runtimes"][0]["graph_optimization"] == rec["settings"]["graph_optimization"]
    code, out = invoke(tmp_path, "run", str(out_plan), "--format", "json", "-q")
    assert code == 0, out
    rows = json.loads(out)
    assert [(r["variant"], r["runtime_name"]) for r in rows] == [(rec["variant"], rec["entry"])]


def test_an_interrupted_tune_resumes_from_the_trials_it_stored(
    tmp_path: Path, tiny: GeneratedModel
) -> None:
    # A budget that runs out before every configuration is measured twice: the tune stops
    # part-way, as an interrupted one does.
    code, out = invoke(
        tmp_path, "tune", str(tiny.onnx_path), *SPACE, *KNOB, "--budget-s", "8", "-q",
    )  # fmt: skip
    (run_id,) = stored(tmp_path, "SELECT run_id FROM runs")[0]
    before = dict(stored(tmp_path, "SELECT job_id, created_at FROM results"))
    assert before, out
    code, out = invoke(
        tmp_path, "tune", str(tiny.onnx_path), *SPACE, *KNOB, "--budget-s", "20",
        "--resume", run_id, "--format", "json", "-q",
    )  # fmt: skip
    assert code == 0, out
    after = dict(stored(tmp_path, "SELECT job_id, created_at FROM results"))
    # The stored trials were replayed, not measured again (a trial is one job, stored once);
    # the resumed race went on from them.
    assert {j: after[j] for j in before} == before
    assert len(after) > len(before)
    dev = json.loads(out)["devices"][0]
    assert sum(c["trials"] for c in dev["configurations"]) == len(after)
    assert stored(tmp_path, "SELECT count(*), max(kind) FROM runs") == [(1, "tune")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "graph_optimization=fastest"],
            "--set graph_optimization: fastest is not one of",
        ),
        (["--set", "warp_speed=9"], "--set: unknown 'warp_speed'"),
        (["--runtime", "tensorflow"], "--runtime: unknown 'tensorflow'"),
        (["--provider", "abacus"], "--provider: unknown 'abacus'"),
        (["--percentile", "100"], "--percentile: 100.0 is not above 0 and below 100"),
        (["--budget-s", "0"], "--budget-s: 0 is below the minimum of 1"),
        (["--model", "m"], "--model picks a model of a plan"),
    ],
)
def test_bad_tune_arguments_are_one_line_before_anything_runs(
    tmp_path: Path, tiny: GeneratedModel, args: list[str], message: str
) -> None:
    code, out = invoke(tmp_path, "tune", str(tiny.onnx_path), *args)
    assert code == 2
    assert message in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "rb.duckdb").exists() or stored(
        tmp_path, "SELECT count(*) FROM runs"
    ) == [(0,)]
