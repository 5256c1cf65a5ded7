"""`rigbench nightly` reports a change of operator placement as its own verdict.

Two real nights of a profiled plan: the second asks ONNX Runtime for its Azure provider first,
which claims no node, so every operator now runs off the requested unit: a real fallback, seen
in ORT's own profiler output, and a `placement` regression (exit code 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rigbench.controller.cli import app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAN = {
    "name": "placement",
    "models": [{"name": "cnn", "generate": {"size": "tiny"}, "accuracy": {"samples": 2}}],
    "runtimes": [{"name": "ort", "runtime": "onnxruntime", "threads": 1, "profile": True}],
    "measurement": {"min_iterations": 20, "min_duration_s": 0, "warmup_iterations": 2},
    "telemetry": {"enabled": False},
}


def night(tmp: Path, providers: list[str], name: str) -> tuple[int, dict]:
    plan = json.loads(json.dumps(PLAN))
    plan["runtimes"][0]["providers"] = providers
    (tmp / "plan.yaml").write_text(yaml.safe_dump(plan))
    (tmp / "inv.yaml").write_text(
        yaml.safe_dump({"devices": [{"name": "local", "class": "local"}]})
    )
    r = CliRunner().invoke(
        app,
        [
            "nightly", str(tmp / "plan.yaml"), "--inventory", str(tmp / "inv.yaml"),
            "--out", str(tmp / name), "--quiet", "--store", str(tmp / "rb.duckdb"),
            "--work", str(tmp / "work"),
        ],
    )  # fmt: skip
    summary = json.loads((tmp / name / "nightly.json").read_text())
    return r.exit_code, summary


def placement(summary: dict) -> dict:
    (c,) = [c for c in summary["comparisons"] if c["metric"] == "placement"]
    return c


def test_a_new_fallback_operator_is_a_placement_regression(tmp_path: Path) -> None:
    code, first = night(tmp_path, ["cpu"], "n1")
    assert code == 0
    assert placement(first)["outcome"] == "not enough data"
    code, same = night(tmp_path, ["cpu"], "n2")
    assert placement(same)["outcome"] == "no change"
    code, moved = night(tmp_path, ["AzureExecutionProvider", "cpu"], "n3")
    c = placement(moved)
    assert c["outcome"] == "regression" and code == 1
    assert (
        "newly off AzureExecutionProvider" in c["message"]
        and "on CPUExecutionProvider" in c["message"]
    )
    md = (tmp_path / "n3" / "summary.md").read_text()
    assert "placement" in md
