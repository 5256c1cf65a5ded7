"""ONNX variants on the generated CNN and on small hand-built graphs that break the tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rigbench.controller.accuracy import compare, make_reference_inputs, reference_outputs
from rigbench.controller.modelgen import GeneratedModel, generate_cnn
from rigbench.controller.variants import VariantSpec, compile_variant
from rigbench.controller.variants.lineage import Lineage
from rigbench.controller.variants.onnx_common import ops_of
from rigbench.controller.variants.signature import read_signature
from rigbench.errors import VariantError


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    return generate_cnn(tmp_path_factory.mktemp("cnn"), size="tiny")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(cnn: GeneratedModel) -> tuple[list, list]:
    inputs = make_reference_inputs(cnn.onnx_path, n=4, seed=3)
    return inputs, reference_outputs(cnn.onnx_path, inputs)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _conv_with_computed_weight(path: Path) -> Path:
    """A Conv whose weight is computed (Neg of a constant), as reparameterized convs are."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((4,), np.float32), "b")
    nodes = [
        helper.make_node("Neg", ["w"], ["w_neg"], name="negate_w"),
        helper.make_node("Conv", ["x", "w_neg", "b"], ["y"], name="conv_dyn_w", pads=[1] * 4),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [w, b],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _with_custom_op(path: Path) -> Path:
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Swish7", ["h"], ["y"], name="fancy_act", domain="acme.ops"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme.ops", 1)]
    )
    onnx.save(model, str(path))
    return path


def _relu_only(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


# --- onnxruntime offline optimization ----------------------------------------------------------


def test_ort_basic_computes_what_fp32_computes(cnn, cache, reference) -> None:
    inputs, ref = reference
    cv = compile_variant(cnn.onnx_path, VariantSpec("ort-basic"), cache)
    report = compare(ref, reference_outputs(cv.path, inputs))
    assert report.max_abs_err < 1e-4 and report.top1_agreement == 1.0


def test_ort_extended_warns_about_contrib_ops(cnn, cache) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("ort-extended"), cache)
    assert "com.microsoft:FusedConv" in ops_of_domains(cv.path)
    assert any("contrib ops (com.microsoft:FusedConv)" in w for w in cv.warnings)


def ops_of_domains(path: Path) -> set[str]:
    model = onnx.load(str(path))
    return {f"{n.domain}:{n.op_type}" for n in model.graph.node}


# --- fp16 -------------------------------------------------------------------------------------


def test_fp16_keeps_float32_io_and_stays_close(cnn, cache, reference) -> None:
    inputs, ref = reference
    cv = compile_variant(cnn.onnx_path, VariantSpec("fp16"), cache)
    sig = read_signature(cv.path)
    assert [t.dtype for t in sig.inputs + sig.outputs] == ["float32", "float32"]
    report = compare(ref, reference_outputs(cv.path, inputs))
    assert 0 < report.max_abs_err < 1e-2
    assert cv.size_bytes < cnn.onnx_path.stat().st_size * 0.7


def test_fp16_without_keep_io_types_takes_float16(cnn, cache) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("fp16", {"keep_io_types": False}), cache)
    assert read_signature(cv.path).inputs[0].dtype == "float16"


def test_fp16_names_an_op_that_cannot_take_float16(cnn, cache) -> None:
    # An int8-dynamic model has DynamicQuantizeLinear, which only takes float32 input.
    quantized = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), cache)
    with pytest.raises(VariantError) as e:
        compile_variant(quantized.path, VariantSpec("fp16"), cache)
    msg = str(e.value)
    assert "op DynamicQuantizeLinear (node 'input_QuantizeLinear')" in msg
    assert "{'op_block_list': ['DynamicQuantizeLinear']}" in msg


def test_fp16_op_block_list_keeps_that_op_in_float32(cnn, cache) -> None:
    quantized = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), cache)
    cv = compile_variant(
        quantized.path, VariantSpec("fp16", {"op_block_list": ["DynamicQuantizeLinear"]}), cache
    )
    assert "DynamicQuantizeLinear" in ops_of(onnx.load(str(cv.path)))


# --- int8 dynamic -----------------------------------------------------------------------------


def test_int8_dynamic_is_smaller_and_measurably_different(cnn, cache, reference) -> None:
    inputs, ref = reference
    cv = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), cache)
    report = compare(ref, reference_outputs(cv.path, inputs))
    assert report.max_abs_err > 0 and np.isfinite(report.max_abs_err)
    assert report.cosine_similarity > 0.99
    assert cv.size_bytes < cnn.onnx_path.stat().st_size * 0.6
    assert {"DynamicQuantizeLinear", "ConvInteger"} <= ops_of(onnx.load(str(cv.path)))


def test_int8_of_an_already_quantized_model_names_the_node(cnn, cache) -> None:
    quantized = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), cache)
    pattern = r"already quantized \(node '[^']+' is (DynamicQuantizeLinear|\w+Integer)\)"
    with pytest.raises(VariantError, match=pattern):
        compile_variant(quantized.path, VariantSpec("int8-dynamic"), cache)


def test_custom_op_is_refused_naming_node_and_op(tmp_path: Path) -> None:
    model = _with_custom_op(tmp_path / "custom.onnx")
    with pytest.raises(VariantError, match="node 'fancy_act' uses op acme.ops:Swish7"):
        compile_variant(model, VariantSpec("int8-dynamic"), tmp_path / "c")


def test_quantizer_failure_names_the_node(tmp_path: Path) -> None:
    model = _conv_with_computed_weight(tmp_path / "reparam.onnx")
    with pytest.raises(VariantError) as e:
        compile_variant(model, VariantSpec("int8-dynamic", {"preprocess": False}), tmp_path / "c")
    assert "Conv node 'conv_dyn_w' (reading 'w_neg')" in str(e.value)
    assert "nodes_to_exclude" in str(e.value)


def test_preprocessing_folds_the_computed_weight_so_it_quantizes(tmp_path: Path) -> None:
    model = _conv_with_computed_weight(tmp_path / "reparam.onnx")
    cv = compile_variant(model, VariantSpec("int8-dynamic"), tmp_path / "c")
    assert "ConvInteger" in ops_of(onnx.load(str(cv.path)))


def test_excluding_the_failing_node_compiles(tmp_path: Path) -> None:
    model = _conv_with_computed_weight(tmp_path / "reparam.onnx")
    params = {"preprocess": False, "nodes_to_exclude": ["conv_dyn_w"]}
    cv = compile_variant(model, VariantSpec("int8-dynamic", params), tmp_path / "c")
    assert any("no node was quantized" in w for w in cv.warnings)


def test_model_without_quantizable_ops_warns(tmp_path: Path) -> None:
    cv = compile_variant(_relu_only(tmp_path / "relu.onnx"), VariantSpec("int8-dynamic"), tmp_path)
    assert any("no node was quantized" in w for w in cv.warnings)


# --- int8 static ------------------------------------------------------------------------------


def test_int8_static_with_synthetic_calibration_warns_and_is_qdq(cnn, cache) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("int8-static"), cache)
    assert any("SYNTHETIC" in w for w in cv.warnings)
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops_of(onnx.load(str(cv.path)))
    lineage = Lineage.from_json(cv.lineage_path.read_text())
    assert lineage.extra["calibration"] == {"source": "synthetic", "seed": 0, "n_samples": 16}


def test_int8_static_with_npz_calibration_records_it(cnn, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=rng.standard_normal((5, *cnn.input_shape)).astype(np.float32))
    spec = VariantSpec("int8-static", {"calibration": str(calib)})
    cv = compile_variant(cnn.onnx_path, spec, tmp_path / "c")
    assert not any("SYNTHETIC" in w for w in cv.warnings)
    extra = Lineage.from_json(cv.lineage_path.read_text()).extra["calibration"]
    assert extra["source"] == "npz" and extra["n_samples"] == 5


def test_changed_calibration_content_is_a_cache_miss(cnn, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    shape = (3, *cnn.input_shape)
    np.savez(calib, input=np.ones(shape, np.float32))
    spec = VariantSpec("int8-static", {"calibration": str(calib)})
    a = compile_variant(cnn.onnx_path, spec, tmp_path / "c")
    np.savez(calib, input=np.full(shape, 2.0, np.float32))
    b = compile_variant(cnn.onnx_path, spec, tmp_path / "c")
    assert not b.cache_hit and b.path.parent != a.path.parent


def test_calibration_of_the_wrong_shape_names_input_expected_and_got(cnn, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=np.zeros((4, 1, 3, 32, 32), np.float32))
    with pytest.raises(VariantError) as e:
        compile_variant(
            cnn.onnx_path, VariantSpec("int8-static", {"calibration": str(calib)}), tmp_path / "c"
        )
    msg = str(e.value)
    assert "input 'input'" in msg and "expected shape [1, 3, 16, 16]" in msg
    assert "[1, 3, 32, 32]" in msg


def test_calibration_arrays_missing_an_input_name_it(cnn, tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="names 'image', which is not an input; inputs: input"):
        compile_variant(
            cnn.onnx_path,
            VariantSpec("int8-static"),
            tmp_path,
            calibration={"image": np.zeros((2, *cnn.input_shape), np.float32)},
        )


def test_calibration_given_twice_is_refused(cnn, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=np.zeros((2, *cnn.input_shape), np.float32))
    with pytest.raises(VariantError, match="calibration given twice"):
        compile_variant(
            cnn.onnx_path,
            VariantSpec("int8-static", {"calibration": str(calib)}),
            tmp_path / "c",
            calibration={"input": np.zeros((2, *cnn.input_shape), np.float32)},
        )


def test_synthetic_calibration_of_a_dynamic_input_needs_input_shapes(tmp_path: Path) -> None:
    dyn = generate_cnn(tmp_path, size="tiny", dynamic_batch=True)
    with pytest.raises(
        VariantError, match=r"'input' dimension 0 \('batch'\) is dynamic.*input_shapes"
    ):
        compile_variant(dyn.onnx_path, VariantSpec("int8-static"), tmp_path / "c")
    cv = compile_variant(
        dyn.onnx_path,
        VariantSpec("int8-static"),
        tmp_path / "c",
        input_shapes={"input": [2, 3, 16, 16]},
    )
    assert "QuantizeLinear" in ops_of(onnx.load(str(cv.path)))
