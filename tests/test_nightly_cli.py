"""The `nightly` and `export` commands' help and their refusals of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rigbench.controller.cli import app


@pytest.mark.parametrize("command", ["nightly", "export"])
def test_help_has_an_example(command: str):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Example: rigbench " + command in result.output


def test_nightly_help_explains_the_exit_codes():
    out = CliRunner().invoke(app, ["nightly", "--help"]).output
    assert "Exit code 0" in out and "1: a regression" in out and "2: the farm failed" in out


def test_nightly_refuses_an_alpha_out_of_range(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["nightly", "plan.yaml", "--alpha", "0.9", "--store", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 2 and "alpha" in result.output


def test_nightly_refuses_an_unknown_pinned_run_before_measuring(tmp_path: Path):
    plan = Path(__file__).resolve().parent.parent / "plans" / "nightly-smoke.yaml"
    result = CliRunner().invoke(
        app,
        ["nightly", str(plan), "--pin", "nope", "--store", str(tmp_path / "s.duckdb"),
         "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 2 and "no run 'nope'" in result.output
    assert not (tmp_path / "out").exists()


def test_nightly_reports_a_missing_plan_file_with_exit_2(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["nightly", str(tmp_path / "none.yaml"), "--store", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 2


def test_workflow_example_uses_only_existing_nightly_options():
    workflow = Path(__file__).resolve().parent.parent / "examples" / "github-workflow-nightly.yml"
    steps = yaml.safe_load(workflow.read_text())["jobs"]["nightly"]["steps"]
    (script,) = [s["run"] for s in steps if "rigbench nightly" in s.get("run", "")]
    used = set(re.findall(r"(--[a-z-]+)", script.split("rigbench nightly", 1)[1].split("code=")[0]))
    help_text = CliRunner().invoke(app, ["nightly", "--help"], terminal_width=200).output
    assert used and all(opt in help_text for opt in used), used
