"""Reference inputs, reference outputs and their comparison (controller/accuracy.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from rigbench.controller.accuracy import (
    AccuracyError,
    AccuracyReport,
    compare,
    make_reference_inputs,
    reference_outputs,
    within_tolerance,
)
from rigbench.controller.modelgen import GeneratedModel, generate_cnn
from rigbench.controller.variants import VariantSpec, compile_variant
from rigbench.errors import InputSpecError


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    return generate_cnn(tmp_path_factory.mktemp("cnn"), size="tiny")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX model with float, int64, int32-scalar and bool inputs; all reach the output."""
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["flag"], ["flag_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "ids_f"], ["a"]),
        helper.make_node("Mul", ["a", "count_f"], ["b"]),
        helper.make_node("Add", ["b", "flag_f"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3]),
            helper.make_tensor_value_info("count", TensorProto.INT32, []),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, [1, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("mixed") / "mixed.onnx"
    onnx.save(model, str(path))
    return path


# --- make_reference_inputs --------------------------------------------------------------------


def test_reference_inputs_are_seeded(cnn: GeneratedModel) -> None:
    a = make_reference_inputs(cnn.onnx_path, n=3, seed=7)
    b = make_reference_inputs(cnn.onnx_path, n=3, seed=7)
    c = make_reference_inputs(cnn.onnx_path, n=3, seed=8)
    assert len(a) == 3 and a[0]["input"].shape == cnn.input_shape
    assert all(np.array_equal(x["input"], y["input"]) for x, y in zip(a, b))
    assert not np.array_equal(a[0]["input"], c[0]["input"])
    assert not np.array_equal(a[0]["input"], a[1]["input"])


def test_onnx_and_tflite_twins_get_the_same_inputs(cnn: GeneratedModel) -> None:
    a = make_reference_inputs(cnn.onnx_path, n=2, seed=1)
    b = make_reference_inputs(cnn.tflite_path, n=2, seed=1)
    assert all(np.array_equal(x["input"], y["input"]) for x, y in zip(a, b))


def test_dynamic_dim_without_override_names_input_and_dim(tmp_path: Path) -> None:
    dyn = generate_cnn(tmp_path, size="tiny", dynamic_batch=True)
    with pytest.raises(InputSpecError, match=r"input 'input' dimension 0 \('batch'\) is dynamic"):
        make_reference_inputs(dyn.onnx_path, n=1, seed=0)
    with pytest.raises(InputSpecError, match="input 'input' dimension 0 is dynamic"):
        make_reference_inputs(dyn.tflite_path, n=1, seed=0)


def test_shape_override_resolves_dynamic_dims(tmp_path: Path) -> None:
    dyn = generate_cnn(tmp_path, size="tiny", dynamic_batch=True)
    (sample,) = make_reference_inputs(dyn.onnx_path, 1, 0, shapes={"input": [4, 3, 16, 16]})
    assert sample["input"].shape == (4, 3, 16, 16)


def test_shape_override_cannot_change_a_fixed_dim(cnn: GeneratedModel) -> None:
    with pytest.raises(InputSpecError, match="dimension 2 is fixed to 16"):
        make_reference_inputs(cnn.onnx_path, 1, 0, shapes={"input": [1, 3, 32, 16]})


def test_integer_and_bool_inputs_get_sensible_values(mixed: Path) -> None:
    samples = make_reference_inputs(mixed, n=4, seed=0, shapes={"x": [2, 3]})
    for s in samples:
        assert s["ids"].dtype == np.int64 and s["ids"].min() >= 0 and s["ids"].max() < 10
        assert s["count"].dtype == np.int32 and s["count"].shape == ()
        assert s["flag"].dtype == np.bool_
        assert s["x"].dtype == np.float32 and s["x"].shape == (2, 3)


def test_fixed_values_are_broadcast_with_the_input_dtype(mixed: Path) -> None:
    (s,) = make_reference_inputs(mixed, 1, 0, shapes={"x": [1, 3]}, values={"count": 7, "ids": 2})
    assert s["count"] == np.int32(7) and s["count"].dtype == np.int32
    assert np.array_equal(s["ids"], np.full((1, 3), 2, np.int64))


def test_fixed_value_for_an_unknown_input_lists_the_inputs(mixed: Path) -> None:
    with pytest.raises(InputSpecError, match="'sr', which is not an input; inputs: x, ids"):
        make_reference_inputs(mixed, 1, 0, shapes={"x": [1, 3]}, values={"sr": 16000})


def test_npz_samples_are_stacked_on_axis_0(cnn: GeneratedModel, tmp_path: Path) -> None:
    data = np.arange(5 * 3 * 16 * 16, dtype=np.float32).reshape(5, 1, 3, 16, 16)
    np.savez(tmp_path / "ref.npz", input=data)
    samples = make_reference_inputs(cnn.onnx_path, n=2, seed=0, npz=tmp_path / "ref.npz")
    assert len(samples) == 5 and np.array_equal(samples[4]["input"], data[4])


def test_npz_with_one_sample_of_the_input_rank(cnn: GeneratedModel, tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", input=np.ones(cnn.input_shape, np.float32))
    (s,) = make_reference_inputs(cnn.onnx_path, npz=tmp_path / "one.npz")
    assert s["input"].shape == cnn.input_shape


def test_npz_of_the_wrong_shape_names_input_expected_and_got(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    np.savez(tmp_path / "bad.npz", input=np.ones((2, 1, 16, 16, 3), np.float32))
    with pytest.raises(InputSpecError) as e:
        make_reference_inputs(cnn.onnx_path, npz=tmp_path / "bad.npz")
    assert "input 'input': expected shape [1, 3, 16, 16]" in str(e.value)
    assert "[1, 16, 16, 3]" in str(e.value)


def test_npz_missing_an_input_names_it(mixed: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "partial.npz", x=np.ones((1, 3), np.float32))
    with pytest.raises(InputSpecError, match="lacks input\\(s\\) 'ids', 'count', 'flag'"):
        make_reference_inputs(mixed, npz=tmp_path / "partial.npz")


# --- reference_outputs ------------------------------------------------------------------------


def test_onnx_and_tflite_twins_agree_through_both_runtimes(cnn: GeneratedModel) -> None:
    inputs = make_reference_inputs(cnn.onnx_path, n=3, seed=2)
    report = compare(
        reference_outputs(cnn.onnx_path, inputs), reference_outputs(cnn.tflite_path, inputs)
    )
    assert report.max_abs_err < 1e-4 and report.top1_agreement == 1.0


def test_reference_outputs_of_mixed_dtypes(mixed: Path) -> None:
    inputs = make_reference_inputs(mixed, 2, 0, shapes={"x": [1, 3]}, values={"count": 2})
    (out, _) = reference_outputs(mixed, inputs)
    s = inputs[0]
    expected = (s["x"] + s["ids"]) * 2 + s["flag"]
    assert np.allclose(out["y"], expected)


def test_quantized_tflite_is_fed_floats_and_returns_floats(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    static = compile_variant(cnn.tflite_path, VariantSpec("tflite-int8-static"), tmp_path)
    inputs = make_reference_inputs(static.path, n=2, seed=0)
    assert inputs[0]["input"].dtype == np.float32  # the float domain, not int8
    (out, _) = reference_outputs(static.path, inputs)
    assert out["logits"].dtype == np.float32 and np.isfinite(out["logits"]).all()


def test_reference_outputs_refuse_a_sample_missing_an_input(cnn: GeneratedModel) -> None:
    with pytest.raises(InputSpecError, match="reference input 0 lacks 'input'"):
        reference_outputs(cnn.onnx_path, [{"image": np.zeros(cnn.input_shape, np.float32)}])


# --- compare ----------------------------------------------------------------------------------


def _logits(rows: list[list[float]]) -> dict[str, np.ndarray]:
    return {"logits": np.array(rows, np.float32)}


def test_compare_counts_samples_and_names_the_mismatch() -> None:
    with pytest.raises(AccuracyError, match="reference has 2 samples but candidate has 1"):
        compare([_logits([[1, 2]])] * 2, [_logits([[1, 2]])])


def test_compare_names_missing_and_unexpected_outputs() -> None:
    with pytest.raises(AccuracyError, match=r"missing \['logits'\], unexpected \['probs'\]"):
        compare([_logits([[1, 2]])], [{"probs": np.array([[1, 2]], np.float32)}])


def test_compare_names_output_and_both_shapes() -> None:
    with pytest.raises(
        AccuracyError, match=r"output 'logits': reference shape \[1, 2\], candidate shape \[2, 1\]"
    ):
        compare([_logits([[1, 2]])], [{"logits": np.array([[1], [2]], np.float32)}])


def test_errors_and_topk_on_a_classifier_output() -> None:
    ref = [_logits([[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]])]
    cand = [_logits([[0, 1, 2, 3, 4, 6, 5.5], [6, 5, 4, 3, 2, 1, 0]])]
    r = compare(ref, cand)
    assert r.max_abs_err == pytest.approx(1.0) and r.mean_abs_err == pytest.approx(1.5 / 14)
    assert r.top1_agreement == 0.5 and r.top5_agreement == 1.0
    assert r.output("logits").n_samples == 1 and r.n_samples == 1


def test_topk_is_none_for_outputs_that_are_not_classifier_shaped() -> None:
    ref = [{"map": np.ones((1, 4, 8), np.float32), "score": np.ones((1, 1), np.float32)}]
    r = compare(ref, ref)
    assert r.top1_agreement is None and r.top5_agreement is None
    assert r.output("score").top1_agreement is None


def test_top5_is_none_when_there_are_five_classes_or_fewer() -> None:
    r = compare([_logits([[1, 2, 3, 4, 5]])], [_logits([[5, 4, 3, 2, 1]])])
    assert r.top1_agreement == 0.0 and r.top5_agreement is None


def test_non_finite_candidate_makes_nan_figures_and_is_counted() -> None:
    r = compare([_logits([[1, 2, 3]])], [_logits([[1, float("nan"), 3]])])
    assert math.isnan(r.max_abs_err) and math.isnan(r.cosine_similarity)
    assert r.output("logits").n_nonfinite == 1


def test_all_zero_outputs_on_both_sides_are_identical() -> None:
    z = [{"y": np.zeros((2, 3), np.float32)}]
    assert compare(z, z).cosine_similarity == 1.0


def test_report_round_trips_through_json() -> None:
    r = compare([_logits([[1, 2, 3, 4, 5, 6]])], [_logits([[1, 2, 3, 4, 6, 5]])])
    again = AccuracyReport.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r


# --- within_tolerance -------------------------------------------------------------------------


def test_within_tolerance_passes_and_fails_with_reasons() -> None:
    r = compare([_logits([[0, 1, 2]])], [_logits([[0, 1, 2.5]])])
    assert within_tolerance(r, {"max_abs_err": 1.0, "cosine_similarity": 0.9}) == (True, [])
    ok, reasons = within_tolerance(r, {"max_abs_err": 0.1, "top1_agreement": 1.0})
    assert not ok and reasons == ["logits: max_abs_err = 0.5 exceeds 0.1"]


def test_within_tolerance_fails_on_nan() -> None:
    r = compare([_logits([[1, 2]])], [_logits([[1, float("nan")]])])
    ok, reasons = within_tolerance(r, {"max_abs_err": 10.0})
    assert not ok and "NaN" in reasons[0]


def test_within_tolerance_fails_a_bound_that_does_not_apply() -> None:
    r = compare([{"y": np.ones((1, 1), np.float32)}], [{"y": np.ones((1, 1), np.float32)}])
    ok, reasons = within_tolerance(r, {"top1_agreement": 0.99})
    assert not ok and "no output holds class scores" in reasons[0]


def test_within_tolerance_rejects_unknown_keys() -> None:
    r = compare([_logits([[1, 2]])], [_logits([[1, 2]])])
    with pytest.raises(AccuracyError, match="unknown tolerance key"):
        within_tolerance(r, {"max_err": 0.1})


# --- properties -------------------------------------------------------------------------------

_values = st.floats(-1e6, 1e6, allow_nan=False, width=32)
_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, _shapes, elements=_values))
def test_identical_outputs_have_zero_error_and_cosine_one(a: np.ndarray) -> None:
    r = compare([{"y": a}], [{"y": a.copy()}])
    assert r.max_abs_err == 0.0 and r.mean_abs_err == 0.0
    assert r.cosine_similarity == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float32, (n, 5), elements=_values),
            hnp.arrays(np.float32, (n, 5), elements=_values),
        )
    )
)
def test_cosine_stays_within_minus_one_and_one(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    cos = compare([{"y": a}], [{"y": b}]).cosine_similarity
    assert -1.0 <= cos <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.integers(1, 5), st.integers(2, 12)).flatmap(
        lambda nc: st.tuples(
            hnp.arrays(np.float32, nc, elements=_values),
            hnp.arrays(np.float32, nc, elements=_values),
        )
    )
)
def test_top1_agreement_is_symmetric(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    ab = compare([{"y": a}], [{"y": b}]).top1_agreement
    ba = compare([{"y": b}], [{"y": a}]).top1_agreement
    assert ab is not None and ab == ba


# --- per-output figures that one output cannot dominate ---------------------------------------


def test_relative_error_and_snr_name_the_damaged_small_output_beside_a_large_one() -> None:
    # A detector: box offsets spanning -1330..202 move by 3 (0.2% of their range); scores in
    # 0..1 move by 0.3 (30%). Cosine over everything would stay ~1; per output it does not hide.
    boxes = np.linspace(-1330, 202, 64, dtype=np.float32).reshape(1, 64)
    scores = np.linspace(0, 1, 8, dtype=np.float32).reshape(1, 8)
    ref = [{"boxes": boxes, "scores": scores}]
    cand = [{"boxes": boxes + 3, "scores": scores + 0.3}]
    r = compare(ref, cand)
    assert r.output("boxes").max_rel_err == pytest.approx(3 / 1532, rel=1e-5)
    assert r.output("scores").max_rel_err == pytest.approx(0.3, rel=1e-5)
    assert r.max_rel_err == pytest.approx(0.3, rel=1e-5)  # the worst output, not the largest
    assert r.max_abs_err == pytest.approx(3.0)
    assert r.output("boxes").snr_db > 40 > r.output("scores").snr_db == r.snr_db


def test_snr_is_ten_log_signal_over_noise_and_infinite_when_equal() -> None:
    ones = np.ones((1, 4), np.float32)
    assert compare([{"y": ones}], [{"y": ones * 1.1}]).snr_db == pytest.approx(20.0, abs=1e-4)
    assert compare([{"y": ones}], [{"y": ones.copy()}]).snr_db == math.inf


def test_relative_error_of_a_constant_output_is_relative_to_its_magnitude() -> None:
    r = compare([{"y": np.full((1, 3), 4.0, np.float32)}], [{"y": np.full((1, 3), 5.0)}])
    assert r.max_rel_err == pytest.approx(0.25)


# --- output kinds: top-k only for class scores ----------------------------------------------

from rigbench.controller.accuracy import OutputKind, Tolerances, resolve_kinds  # noqa: E402


def test_landmarks_beside_other_outputs_get_no_top1() -> None:
    shapes = {"landmarks": (1, 195), "flag": (1, 1), "heatmap": (1, 64, 64, 39)}
    kinds, notes = resolve_kinds(shapes, None)
    assert not any(k.is_class_scores for k in kinds.values()) and notes == []


def test_a_lone_2d_output_is_guessed_and_labelled_as_a_guess() -> None:
    kinds, notes = resolve_kinds({"logits": (1, 10)}, None)
    assert kinds["logits"] == OutputKind("class_scores", "guess") and "a guess" in notes[0]
    r = compare([_logits([[0, 1, 2]])], [_logits([[0, 1, 2]])], kinds)
    assert r.topk_guessed and r.output("logits").kind_source == "guess"


def test_a_detection_task_has_no_class_scores_unless_the_plan_says_so() -> None:
    shapes = {"scores": (1, 896, 1), "boxes": (1, 896, 16)}
    kinds, _ = resolve_kinds(shapes, "detection")
    assert not any(k.is_class_scores for k in kinds.values())
    kinds, _ = resolve_kinds(shapes, "detection", {"boxes": "class_scores"})
    assert kinds["boxes"] == OutputKind("class_scores", "plan")


def test_classification_with_two_candidate_outputs_asks_which() -> None:
    kinds, notes = resolve_kinds({"a": (1, 10), "b": (1, 5)}, "classification")
    assert not any(k.is_class_scores for k in kinds.values())
    assert "kind: class_scores" in notes[0]


def test_a_3d_softmax_declared_class_scores_gets_top1_over_its_last_axis() -> None:
    ref = np.array([[[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]], np.float32)  # [1, 3 steps, 2]
    cand = np.array([[[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]], np.float32)  # step 1 flips
    r = compare([{"p": ref}], [{"p": cand}], {"p": OutputKind("class_scores", "plan")})
    assert r.top1_agreement == pytest.approx(2 / 3)


def test_declaring_outputs_the_model_lacks_is_an_error_naming_them() -> None:
    with pytest.raises(AccuracyError, match=r"names 'logit', which the model does not output"):
        resolve_kinds({"logits": (1, 10)}, None, {"logit": "class_scores"})


# --- per-output tolerances -------------------------------------------------------------------


def test_per_output_tolerance_replaces_the_models_bound_for_that_output() -> None:
    ref = [{"boxes": np.full((1, 4), 100.0, np.float32), "scores": np.zeros((1, 4), np.float32)}]
    cand = [{"boxes": np.full((1, 4), 101.0, np.float32), "scores": np.full((1, 4), 0.1)}]
    r = compare(ref, cand, {}, Tolerances({"max_abs_err": 0.5}, {"boxes": {"max_rel_err": 0.05}}))
    assert r.output("boxes").within_tolerance is True
    assert r.output("scores").within_tolerance is True
    r = compare(ref, cand, {}, Tolerances({"max_abs_err": 0.05}, {"boxes": {"snr_db_min": 60}}))
    assert r.within_tolerance is False
    assert r.reasons == ("boxes: snr_db = 40 is below 60", "scores: max_abs_err = 0.1 exceeds 0.05")


def test_a_model_wide_top1_bound_applies_to_the_class_scores_only() -> None:
    ref = [{"logits": np.array([[0, 1, 2]], np.float32), "box": np.ones((1, 4), np.float32)}]
    kinds = {"logits": OutputKind("class_scores", "task")}
    r = compare(ref, ref, kinds, Tolerances({"top1_min": 0.9}))
    assert r.within_tolerance is True and r.output("box").within_tolerance is True
