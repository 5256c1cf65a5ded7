"""`rigbench compare` end to end: a spawned local agent, real models, a real DuckDB file.

The slower model is the tiny CNN with 30 cancelling conv pairs (identical outputs, about 4x the
work): a change no load on this shared machine hides. The A/A comparison uses a minimum effect
of 90 %, so that it asserts the path to "same" and exit 0 without asserting anything about how
quiet the machine is. Assertions are on verdicts and on the order jobs ran, never on timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.compare.schedule import round_orders
from rigbench.controller.modelgen import GeneratedModel, generate_cnn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUICK = ["--rounds", "7", "--max-rounds", "7", "--round-s", "0.2", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def slow30(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    return generate_cnn(tmp_path_factory.mktemp("slow"), size="tiny", slowdown=30)


def invoke(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [*args, "--store", str(folder / "rb.duckdb"), "--work", str(folder / "work")],
    )
    return result.exit_code, result.output


def query(folder: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(folder / "rb.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def slower(
    tmp_path_factory: pytest.TempPathFactory, tiny: GeneratedModel, slow30: GeneratedModel
) -> tuple[Path, int, dict]:
    folder = tmp_path_factory.mktemp("compare")
    code, out = invoke(
        folder, "compare", str(tiny.onnx_path), str(slow30.onnx_path), *QUICK, "-f", "json"
    )
    return folder, code, json.loads(out) if out.startswith("{") else {"output": out}


def test_a_much_slower_b_is_slower_with_exit_1(slower: tuple[Path, int, dict]) -> None:
    _, code, result = slower
    assert code == 1, result
    assert result["verdict"]["change"] == "slower"
    assert result["verdict"]["ci_low"] > 1.5
    assert len(result["rounds"]) == 7 and all(r["ratio"] > 1 for r in result["rounds"])


def test_rounds_ran_interleaved_in_the_drawn_order(slower: tuple[Path, int, dict]) -> None:
    folder, _, result = slower
    rows = query(
        folder,
        "SELECT j.model FROM jobs j JOIN runs r USING (run_id) WHERE r.kind = 'compare' "
        "ORDER BY j.started_at",
    )
    sides = "".join(model[0] for (model,) in rows)  # models are named "A:..." and "B:..."
    expected = "".join("".join(o) for o in round_orders(7, result["seed"]))
    assert sides == expected
    assert [r["order"] for r in result["rounds"]] == [
        "".join(o) for o in round_orders(7, result["seed"])
    ]


def test_a_compare_is_stored_as_a_run_with_its_seed(slower: tuple[Path, int, dict]) -> None:
    folder, _, result = slower
    ((kind, status, plan),) = query(folder, "SELECT kind, status, plan_json FROM runs")
    assert (kind, status) == ("compare", "finished")
    assert json.loads(plan)["seed"] == result["seed"]
    assert query(folder, "SELECT count(*) FROM results") == [(14,)]


def test_a_against_itself_is_the_same_with_exit_0(tmp_path: Path, tiny: GeneratedModel) -> None:
    path = str(tiny.onnx_path)
    code, out = invoke(tmp_path, "compare", path, path, *QUICK, "--min-effect", "90")
    assert code == 0, out
    assert "no change" in out.splitlines()[0]


def test_stored_runs_artifacts_are_compared(
    tmp_path: Path, tiny: GeneratedModel, slow30: GeneratedModel
) -> None:
    runs = []
    for model in (slow30, tiny):
        code, out = invoke(tmp_path, "bench", str(model.onnx_path), "-n", "20", "-f", "json")
        assert code == 0, out
        runs.append(json.loads(out)[0]["run_id"])
    code, out = invoke(
        tmp_path, "compare", f"run:{runs[0]}", f"run:{runs[1]}", *QUICK, "-f", "markdown"
    )
    assert code == 0, out
    assert "B is faster than A" in out and "| A | `run:" in out


def test_an_unreachable_device_is_exit_2_naming_it(tmp_path: Path, tiny: GeneratedModel) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "name": "gone",
                        "class": "x86",
                        "grpc": {"address": "127.0.0.1:9"},
                        "connect_timeout_s": 1,
                    }
                ]
            }
        )
    )
    path = str(tiny.onnx_path)
    code, out = invoke(tmp_path, "compare", path, path, *QUICK, "--inventory", str(inventory))
    assert code == 2, out
    assert "problem: device gone: unreachable" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.onnx", "other.onnx"], "A: 'missing.onnx' is not a model file"),
        (["run:nosuchrun", "run:nosuchrun"], "A: run 'nosuchrun' is not in the store"),
        (["x.onnx", "y.onnx", "--rounds", "3"], "--rounds 3: at least"),
        (["x.onnx", "y.onnx", "--min-effect", "lots"], "--min-effect takes a percentage"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = invoke(tmp_path, "compare", *args)
    assert code == 2
    assert message in out and "Traceback" not in out
