"""TFLite variants with ai-edge-quantizer on the generated CNN (the float TFLite twin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rigbench.controller.accuracy import compare, make_reference_inputs, reference_outputs
from rigbench.controller.modelgen import GeneratedModel, generate_cnn
from rigbench.controller.variants import VariantSpec, compile_variant
from rigbench.controller.variants.signature import read_signature
from rigbench.controller.variants.tflite_quantize import quantized_tensors
from rigbench.errors import VariantError


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    return generate_cnn(tmp_path_factory.mktemp("cnn"), size="tiny")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(cnn: GeneratedModel) -> tuple[list, list]:
    inputs = make_reference_inputs(cnn.tflite_path, n=4, seed=5)
    return inputs, reference_outputs(cnn.tflite_path, inputs)


def test_tflite_fp32_is_the_source(cnn, cache) -> None:
    cv = compile_variant(cnn.tflite_path, VariantSpec("tflite-fp32"), cache)
    assert cv.format == "tflite" and cv.path.read_bytes() == cnn.tflite_path.read_bytes()


@pytest.mark.parametrize(
    ("variant", "max_size_ratio"),
    [("tflite-int8-dynamic", 0.5), ("tflite-int8-weight", 0.5), ("tflite-int4-weight", 0.4)],
)
def test_weight_quantized_variants_are_smaller_float_io_and_close(
    cnn, cache, reference, variant: str, max_size_ratio: float
) -> None:
    inputs, ref = reference
    cv = compile_variant(cnn.tflite_path, VariantSpec(variant), cache)
    assert cv.size_bytes < cnn.tflite_path.stat().st_size * max_size_ratio
    assert read_signature(cv.path).inputs[0].dtype == "float32"
    assert quantized_tensors(cv.path)
    report = compare(ref, reference_outputs(cv.path, inputs))
    assert 0 < report.max_abs_err and report.cosine_similarity > 0.98
    assert cv.tool_versions.keys() == {"ai-edge-quantizer", "ai-edge-litert"}


def test_int8_static_has_quantized_io_and_runs_on_float_inputs(cnn, cache, reference) -> None:
    inputs, ref = reference
    cv = compile_variant(cnn.tflite_path, VariantSpec("tflite-int8-static"), cache)
    assert any("SYNTHETIC" in w for w in cv.warnings)
    (inp,) = read_signature(cv.path).inputs
    assert inp.dtype == "int8" and inp.is_quantized
    report = compare(ref, reference_outputs(cv.path, inputs))
    assert 0 < report.max_abs_err < 1.0 and report.cosine_similarity > 0.99


def test_int8_static_with_int16_activations(cnn, cache) -> None:
    cv = compile_variant(
        cnn.tflite_path, VariantSpec("tflite-int8-static", {"activation_bits": 16}), cache
    )
    assert read_signature(cv.path).inputs[0].dtype == "int16"


def test_int8_static_calibration_of_the_wrong_shape_is_named(cnn, tmp_path: Path) -> None:
    bad = {"input": np.zeros((2, 1, 16, 16, 3), np.float32)}  # NHWC instead of NCHW
    with pytest.raises(VariantError) as e:
        compile_variant(
            cnn.tflite_path, VariantSpec("tflite-int8-static"), tmp_path, calibration=bad
        )
    assert "input 'input': expected shape [1, 3, 16, 16]" in str(e.value)
    assert "[1, 16, 16, 3]" in str(e.value)


def test_already_quantized_tflite_is_refused_naming_a_tensor(cnn, cache) -> None:
    static = compile_variant(cnn.tflite_path, VariantSpec("tflite-int8-static"), cache)
    with pytest.raises(VariantError, match=r"already quantized \(tensor '.+' is int8 with a scale"):
        compile_variant(static.path, VariantSpec("tflite-int8-dynamic"), cache)
