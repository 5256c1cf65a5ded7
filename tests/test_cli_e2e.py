"""The CLI end to end: a spawned local agent, real models, a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.modelgen import GeneratedModel
from rigbench.digest import sha256_file
from tests.builders.processes import query
from tests.thirdparty import thirdparty_model

pytestmark = pytest.mark.e2e

QUICK = ["--iterations", "30", "--warmup", "2"]


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    )
    return result.exit_code, result.output


def test_bench_stores_every_iteration_of_a_generated_model(tmp_path, tiny: GeneratedModel):
    code, out = invoke(tmp_path, "bench", str(tiny.onnx_path), *QUICK, "--format", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["iterations"] == 30
    assert rows[0]["providers_used"] == "CPUExecutionProvider"
    assert query(tmp_path, "SELECT count(*) FROM latency_samples") == [(30,)]
    assert query(tmp_path, "SELECT kind, status FROM runs") == [("bench", "finished")]


def test_bench_runs_a_tflite_model_on_litert(tmp_path, tiny: GeneratedModel):
    code, out = invoke(tmp_path, "bench", str(tiny.tflite_path), *QUICK)
    assert code == 0, out
    assert query(tmp_path, "SELECT runtime, providers_used FROM results") == [
        ("litert", "xnnpack")
    ]


def test_bench_refuses_a_runtime_that_does_not_take_the_format(tmp_path, tiny):
    code, out = invoke(tmp_path, "bench", str(tiny.tflite_path), "--runtime", "onnxruntime")
    assert code == 2
    assert "tflite model; runtime onnxruntime runs onnx models" in out


def test_bench_third_party_model_with_dynamic_dims_and_int64_input(tmp_path):
    vad = thirdparty_model("silero-vad")  # input [?, ?] f32, state [2, ?, 128] f32, sr [] int64
    code, out = invoke(
        tmp_path,
        "bench",
        str(vad),
        "--input",
        "input=1x512",
        "--input",
        "state=2x1x128",
        "--value",
        "sr=16000",
        *QUICK,
    )
    assert code == 0, out
    (inputs_json,) = query(tmp_path, "SELECT inputs_json FROM results")[0]
    shapes = {t["name"]: (t["dtype"], t["shape"]) for t in json.loads(inputs_json)}
    assert shapes == {
        "input": ("float32", [1, 512]),
        "state": ("float32", [2, 1, 128]),
        "sr": ("int64", []),
    }


def test_bench_third_party_model_without_overrides_names_the_dynamic_input(tmp_path):
    vad = thirdparty_model("silero-vad")
    code, out = invoke(tmp_path, "bench", str(vad), *QUICK)
    assert code == 1  # the job failed for the model's (its inputs') own reasons
    assert "input 'input' dimension 0" in out and "is dynamic" in out
    assert "input (the model's own error)" in out


def test_bench_third_party_int32_classifier(tmp_path):
    magika = thirdparty_model("magika")  # bytes [?, 2048] int32
    code, out = invoke(tmp_path, "bench", str(magika), "--input", "bytes=1x2048", *QUICK)
    assert code == 0, out


def test_bench_third_party_int8_tflite_with_quantized_input(tmp_path):
    wake = thirdparty_model("micro-wakeword-int8")  # input [1, 3, 40] int8
    code, out = invoke(tmp_path, "bench", str(wake), *QUICK)
    assert code == 0, out
    (inputs_json,) = query(tmp_path, "SELECT inputs_json FROM results")[0]
    assert json.loads(inputs_json)[0]["dtype"] == "int8"


def test_a_failing_model_loses_nothing_measured_before_it(tmp_path, tiny):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(tiny.onnx_path.read_bytes()[:500])
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: mixed\n"
        "models:\n"
        f"  - {{name: good, path: {tiny.onnx_path}, accuracy: {{samples: 0}}}}\n"
        f"  - {{name: bad, path: {bad}, variants: [fp32], accuracy: {{samples: 0}}}}\n"
        "runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]\n"
        "measurement: {min_iterations: 20, min_duration_s: 0, warmup_iterations: 1}\n"
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 1, out  # a job failed for the model's own reasons
    assert "1 job(s) failed" in out and "bad/fp32" in out
    assert query(tmp_path, "SELECT model FROM results") == [("good",)]
    assert query(tmp_path, "SELECT model, status, error_kind FROM jobs ORDER BY model") == [
        ("bad", "failed", "compile"),
        ("good", "done", None),
    ]


def test_run_compares_every_variant_with_the_fp32_source(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: acc\n"
        "models:\n"
        "  - name: cnn\n"
        "    generate: {size: tiny}\n"
        "    variants: [fp32, int8-dynamic, tflite-fp32]\n"
        "    accuracy: {samples: 4}\n"
        "runtimes:\n"
        "  - {name: ort, runtime: onnxruntime, threads: 1}\n"
        "  - {name: lite, runtime: litert, threads: 1}\n"
        "measurement: {min_iterations: 20, min_duration_s: 0, warmup_iterations: 1}\n"
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 0, out
    errs = dict(
        query(
            tmp_path,
            "SELECT r.variant, a.max_abs_err FROM results r JOIN accuracy a "
            "USING (job_id) WHERE a.output = '*'",
        )
    )
    assert errs["fp32"] == 0.0
    assert 0 < errs["tflite-fp32"] < 1e-4  # same weights, another runtime
    assert errs["int8-dynamic"] > errs["tflite-fp32"]  # quantization costs accuracy


def test_devices_lists_runtimes_providers_and_sensors_of_the_local_agent(tmp_path):
    result = CliRunner().invoke(
        app, ["devices", "--format", "json", "--work", str(tmp_path / "work")]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["device"] == "local" and row["status"] == "ok"
    assert "onnxruntime" in row["runtimes"] and "CPUExecutionProvider" in row["runtimes"]
    assert "litert" in row["runtimes"]
    assert "procfs" in row["sensors"]


def test_compile_records_lineage_and_reuses_the_second_time(tmp_path, tiny):
    args = [
        "compile",
        str(tiny.onnx_path),
        "--variant",
        "int8-dynamic",
        "--format",
        "json",
        "--work",
        str(tmp_path / "work"),
    ]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    (a,), (b,) = json.loads(first.output), json.loads(second.output)
    assert not a["cache_hit"] and b["cache_hit"] and a["sha256"] == b["sha256"]
    assert a["transform"] and "onnxruntime" in a["tool_versions"]
    assert a["source_sha256"] == sha256_file(tiny.onnx_path)


def test_compile_of_an_unknown_variant_lists_the_known_ones(tmp_path, tiny):
    result = CliRunner().invoke(
        app, ["compile", str(tiny.onnx_path), "--variant", "int9", "--work", str(tmp_path / "work")]
    )
    assert result.exit_code == 2
    assert "unknown variant 'int9'" in result.output and "int8-dynamic" in result.output
