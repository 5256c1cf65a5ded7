"""Bad input at the command line: a clear message, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rigbench.controller.cli import app
from rigbench.controller.cli.common import EXIT_ERROR
from rigbench.controller.modelgen import GeneratedModel
from rigbench.controller.store import Store

INVENTORY = """
devices:
  - name: bench-a
    class: local
  - name: bench-b
    class: local
    tags: [spare]
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder so no ./inventory.yaml or .rigbench/ of the repo is used."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIGBENCH_STORE", raising=False)
    monkeypatch.delenv("RIGBENCH_WORK", raising=False)
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_plan(here: Path, plan: Path, inventory: Path | None = None) -> Result:
    args = ["run", str(plan), "--store", str(here / "s.duckdb"), "--work", str(here / "work")]
    if inventory is not None:
        args += ["--inventory", str(inventory)]
    return invoke(*args, "--quiet")


def plan_text(model_path: Path, extra: str = "", variants: str = "[fp32]") -> str:
    return (
        textwrap.dedent(
            f"""
            name: p
            models:
              - name: m
                path: {model_path}
                variants: {variants}
                accuracy: {{samples: 0}}
            runtimes:
              - name: ort
                runtime: onnxruntime
            """
        ).lstrip("\n")
        + extra
    )


def assert_clean_error(r: Result) -> None:
    assert r.exit_code == EXIT_ERROR, r.output
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.output


def test_plan_naming_an_unknown_device_lists_the_known_ones(here: Path) -> None:
    inv = write(here, "inventory.yaml", INVENTORY)
    plan = write(here, "plan.yaml", plan_text(here / "m.onnx", "devices: {names: [bench-z]}\n"))
    r = run_plan(here, plan, inv)
    assert_clean_error(r)
    assert "unknown device 'bench-z'" in r.stderr
    assert "bench-a, bench-b" in r.stderr


def test_inventory_with_a_misspelt_field_names_line_and_suggests(here: Path) -> None:
    inv = write(here, "inventory.yaml", INVENTORY.replace("    tags: [spare]", "    tgas: [spare]"))
    plan = write(here, "plan.yaml", plan_text(here / "m.onnx"))
    r = run_plan(here, plan, inv)
    assert_clean_error(r)
    assert "inventory.yaml:6: devices[1].tgas: unknown field (did you mean 'tags'?)" in r.stderr


def test_devices_with_a_misspelt_inventory_field_fails_before_contacting_anything(
    here: Path,
) -> None:
    inv = write(
        here, "inventory.yaml", INVENTORY.replace("class: local\n  - name", "clas: local\n  - name")
    )
    r = invoke("devices", "--inventory", str(inv), "--work", str(here / "work"))
    assert_clean_error(r)
    assert "inventory.yaml:3: devices[0].clas: unknown field (did you mean 'class'?)" in r.stderr


def test_unknown_variant_lists_the_known_variants(here: Path, tiny: GeneratedModel) -> None:
    plan = write(here, "plan.yaml", plan_text(tiny.onnx_path, variants="[fp32, int9-dynamic]"))
    r = run_plan(here, plan)
    assert_clean_error(r)
    assert "unknown variant 'int9-dynamic'" in r.stderr
    for known in ("fp32", "fp16", "int8-dynamic"):
        assert known in r.stderr


def test_failed_run_is_recorded_as_failed_in_the_store(here: Path, tiny: GeneratedModel) -> None:
    plan = write(here, "plan.yaml", plan_text(tiny.onnx_path, variants="[nope]"))
    assert run_plan(here, plan).exit_code == EXIT_ERROR
    runs = Store(here / "s.duckdb").query("SELECT status, note FROM runs")
    assert len(runs) == 1
    assert runs[0]["status"] == "failed" and "unknown variant 'nope'" in runs[0]["note"]


def test_results_on_an_empty_store_says_how_to_fill_it(here: Path) -> None:
    Store(here / "empty.duckdb")
    r = invoke("results", "--store", str(here / "empty.duckdb"))
    assert_clean_error(r)
    assert "the store holds no run yet" in r.stderr
    assert "rigbench run PLAN" in r.stderr


def test_results_of_an_unknown_run_names_it(here: Path) -> None:
    Store(here / "empty.duckdb")
    r = invoke("results", "run-404", "--store", str(here / "empty.duckdb"))
    assert_clean_error(r)
    assert "no run 'run-404' in the store; recent runs: (none)" in r.stderr


def test_bench_of_a_missing_model_file_names_the_file(here: Path) -> None:
    r = invoke("bench", str(here / "missing.onnx"), "--store", str(here / "s.duckdb"))
    assert_clean_error(r)
    assert f"model file {here / 'missing.onnx'} does not exist" in r.stderr


def test_plan_with_a_missing_model_file_names_model_and_file(here: Path) -> None:
    plan = write(here, "plan.yaml", plan_text(here / "gone.onnx"))
    r = run_plan(here, plan)
    assert_clean_error(r)
    assert f"model 'm': file {here / 'gone.onnx'} does not exist" in r.stderr


def test_plan_with_bad_yaml_names_file_and_line(here: Path) -> None:
    plan = write(here, "plan.yaml", "name: p\nmodels:\n  - name: [m\n")
    r = run_plan(here, plan)
    assert_clean_error(r)
    assert "plan.yaml:" in r.stderr and "not valid YAML" in r.stderr


def test_bench_input_override_that_is_not_a_shape_is_explained(
    here: Path, tiny: GeneratedModel
) -> None:
    r = invoke("bench", str(tiny.onnx_path), "--input", "x=1xthree", "--store", "s.duckdb")
    assert_clean_error(r)
    assert "dimensions must be integers separated by 'x'" in r.stderr
