"""The variant API itself: registry, format detection, parameters, cache, lineage."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rigbench.controller.modelgen import GeneratedModel, generate_cnn
from rigbench.controller.variants import (
    CompiledVariant,
    VariantSpec,
    available_variants,
    compile_variant,
)
from rigbench.controller.variants.cache import CompileCache
from rigbench.controller.variants.lineage import LINEAGE_FILE, Lineage
from rigbench.digest import sha256_file
from rigbench.errors import ModelLoadError, VariantError


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    return generate_cnn(tmp_path_factory.mktemp("cnn"), size="tiny")


def test_available_variants_by_source_format() -> None:
    onnx = available_variants("onnx")
    tflite = available_variants("tflite")
    assert {"fp32", "ort-basic", "ort-extended", "fp16", "int8-dynamic", "int8-static"} <= set(onnx)
    assert {"tflite-fp32", "tflite-int8-dynamic", "tflite-int8-static"} <= set(tflite)
    assert "int8-dynamic" not in tflite and "tflite-int8-dynamic" not in onnx


def test_available_variants_rejects_unknown_format() -> None:
    with pytest.raises(VariantError, match="unknown model format 'pt'"):
        available_variants("pt")


def test_unknown_variant_lists_the_existing_ones(cnn: GeneratedModel, tmp_path: Path) -> None:
    with pytest.raises(VariantError) as e:
        compile_variant(cnn.onnx_path, VariantSpec("int3-magic"), tmp_path)
    msg = str(e.value)
    assert "unknown variant 'int3-magic'" in msg
    assert "int8-dynamic" in msg and "tflite-int8-static" in msg


def test_fp32_is_the_source_byte_for_byte(cnn: GeneratedModel, tmp_path: Path) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("fp32"), tmp_path)
    assert cv.format == "onnx"
    assert cv.path.read_bytes() == cnn.onnx_path.read_bytes()
    assert cv.sha256 == cv.source_sha256 == sha256_file(cnn.onnx_path)


def test_second_compile_is_a_cache_hit_with_the_same_artifact(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    first = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), tmp_path)
    second = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), tmp_path)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.path == first.path and second.sha256 == first.sha256
    assert second.compile_ms == first.compile_ms  # the compile that made it, not the lookup


def test_default_params_and_explicit_defaults_share_one_entry(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    a = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), tmp_path)
    b = compile_variant(
        cnn.onnx_path, VariantSpec("int8-dynamic", {"per_channel": False}), tmp_path
    )
    assert b.cache_hit and b.path == a.path


def test_changed_params_compile_a_new_artifact(cnn: GeneratedModel, tmp_path: Path) -> None:
    a = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic"), tmp_path)
    b = compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic", {"per_channel": True}), tmp_path)
    assert not b.cache_hit
    assert b.path.parent != a.path.parent and b.sha256 != a.sha256
    assert b.params["per_channel"] is True


def test_lineage_records_source_transform_params_and_tool_versions(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    from importlib.metadata import version

    cv = compile_variant(
        cnn.onnx_path, VariantSpec("int8-dynamic", {"reduce_range": True}), tmp_path
    )
    assert cv.source_sha256 == sha256_file(cnn.onnx_path)
    assert cv.transform == "onnxruntime.quantization.quantize_dynamic"
    assert cv.params["reduce_range"] is True and cv.params["weight_type"] == "int8"
    assert cv.tool_versions == {"onnx": version("onnx"), "onnxruntime": version("onnxruntime")}
    assert cv.size_bytes == cv.path.stat().st_size and cv.sha256 == sha256_file(cv.path)
    assert cv.compile_ms > 0


def test_lineage_file_beside_the_artifact_matches_the_result(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("ort-basic"), tmp_path)
    lin = Lineage.from_json(cv.lineage_path.read_text())
    assert (lin.sha256, lin.source_sha256, lin.params, lin.size_bytes) == (
        cv.sha256,
        cv.source_sha256,
        cv.params,
        cv.size_bytes,
    )
    assert lin.extra["source_name"] == cnn.onnx_path.name


def test_changed_source_is_a_cache_miss(cnn: GeneratedModel, tmp_path: Path) -> None:
    other = generate_cnn(tmp_path / "other", size="tiny", seed=1)
    a = compile_variant(cnn.onnx_path, VariantSpec("ort-basic"), tmp_path / "c")
    b = compile_variant(other.onnx_path, VariantSpec("ort-basic"), tmp_path / "c")
    assert not b.cache_hit and b.source_sha256 != a.source_sha256


def test_damaged_cache_entry_is_compiled_again(cnn: GeneratedModel, tmp_path: Path) -> None:
    first = compile_variant(cnn.onnx_path, VariantSpec("ort-basic"), tmp_path)
    first.path.write_bytes(first.path.read_bytes()[:100])
    again = compile_variant(cnn.onnx_path, VariantSpec("ort-basic"), tmp_path)
    assert not again.cache_hit
    assert sha256_file(again.path) == again.sha256 == first.sha256


def test_staging_leaves_nothing_behind(cnn: GeneratedModel, tmp_path: Path) -> None:
    cv = compile_variant(cnn.onnx_path, VariantSpec("fp16"), tmp_path)
    assert os.listdir(tmp_path / ".staging") == []
    assert sorted(p.name for p in cv.path.parent.iterdir()) == ["fp16.onnx", LINEAGE_FILE]


def test_unknown_param_lists_the_accepted_ones(cnn: GeneratedModel, tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="no parameter 'per_chanel'; it takes: .*per_channel"):
        compile_variant(cnn.onnx_path, VariantSpec("int8-dynamic", {"per_chanel": True}), tmp_path)


def test_param_of_the_wrong_type_is_refused(cnn: GeneratedModel, tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="'per_channel' must be bool, got 'yes'"):
        compile_variant(
            cnn.onnx_path, VariantSpec("int8-dynamic", {"per_channel": "yes"}), tmp_path
        )


def test_param_outside_its_choices_is_refused(cnn: GeneratedModel, tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="'weight_type' must be one of 'int8', 'uint8'"):
        compile_variant(
            cnn.onnx_path, VariantSpec("int8-dynamic", {"weight_type": "int4"}), tmp_path
        )


def test_tflite_file_named_onnx_is_detected_by_content(cnn: GeneratedModel, tmp_path: Path) -> None:
    disguised = tmp_path / "model.onnx"
    disguised.write_bytes(cnn.tflite_path.read_bytes())
    with pytest.raises(VariantError) as e:
        compile_variant(disguised, VariantSpec("int8-dynamic"), tmp_path / "c")
    assert "needs an ONNX source" in str(e.value) and "TFL3" in str(e.value)
    assert "tflite-int8-dynamic" in str(e.value)


def test_onnx_file_given_to_a_tflite_variant_says_tensorflow_is_needed(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    disguised = tmp_path / "model.tflite"
    disguised.write_bytes(cnn.onnx_path.read_bytes())
    with pytest.raises(VariantError) as e:
        compile_variant(disguised, VariantSpec("tflite-int8-dynamic"), tmp_path / "c")
    msg = str(e.value)
    assert "is ONNX (by content)" in msg and "TensorFlow" in msg and "'external'" in msg


def test_truncated_onnx_source_is_a_model_load_error(cnn: GeneratedModel, tmp_path: Path) -> None:
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(cnn.onnx_path.read_bytes()[: cnn.onnx_path.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        compile_variant(cut, VariantSpec("fp32"), tmp_path / "c")


def test_truncated_tflite_source_is_a_model_load_error(cnn: GeneratedModel, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(cnn.tflite_path.read_bytes()[:-200])
    with pytest.raises(ModelLoadError, match="LiteRT cannot load it"):
        compile_variant(cut, VariantSpec("tflite-fp32"), tmp_path / "c")


def test_text_file_is_neither_format(tmp_path: Path) -> None:
    junk = tmp_path / "notes.onnx"
    junk.write_text("this is not a model\n")
    with pytest.raises(ModelLoadError, match="neither a TFLite flatbuffer"):
        compile_variant(junk, VariantSpec("fp32"), tmp_path / "c")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        compile_variant(empty, VariantSpec("fp32"), tmp_path / "c")


def test_external_registers_a_user_tflite_as_variant_of_the_onnx_source(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    cv: CompiledVariant = compile_variant(
        cnn.onnx_path,
        VariantSpec("external", {"artifact": str(cnn.tflite_path), "label": "onnx2tf 1.x"}),
        tmp_path,
    )
    assert cv.format == "tflite" and cv.path.suffix == ".tflite"
    assert cv.source_sha256 == sha256_file(cnn.onnx_path)
    assert cv.sha256 == sha256_file(cnn.tflite_path)


def test_external_without_artifact_says_what_to_pass(cnn: GeneratedModel, tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="needs params {'artifact'"):
        compile_variant(cnn.onnx_path, VariantSpec("external"), tmp_path)


def test_a_moved_calibration_file_with_the_same_content_is_a_cache_hit(
    cnn: GeneratedModel, tmp_path: Path
) -> None:
    data = np.random.default_rng(0).standard_normal((3, *cnn.input_shape)).astype(np.float32)
    np.savez(tmp_path / "a.npz", input=data)
    np.savez(tmp_path / "b.npz", input=data)
    a = compile_variant(
        cnn.onnx_path,
        VariantSpec("int8-static", {"calibration": str(tmp_path / "a.npz")}),
        tmp_path,
    )
    b = compile_variant(
        cnn.onnx_path,
        VariantSpec("int8-static", {"calibration": str(tmp_path / "b.npz")}),
        tmp_path,
    )
    assert b.cache_hit and b.path == a.path


def test_concurrent_publish_of_one_key_keeps_the_first_entry(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path)
    with cache.staging() as first, cache.staging() as second:
        for folder, text in ((first, "first"), (second, "second")):
            (folder / "m.onnx").write_text(text)
            (folder / LINEAGE_FILE).write_text(text)
        assert cache.publish(first, "k") == tmp_path / "k"
        assert cache.publish(second, "k") == tmp_path / "k"
    assert (tmp_path / "k" / "m.onnx").read_text() == "first"
    assert os.listdir(tmp_path / ".staging") == []


def test_onnx_with_external_weight_data_is_refused(cnn: GeneratedModel, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(cnn.onnx_path))
    path = tmp_path / "split.onnx"
    onnx.save(model, str(path), save_as_external_data=True, size_threshold=0)
    with pytest.raises(VariantError, match="keeps its data in an external file"):
        compile_variant(path, VariantSpec("fp32"), tmp_path / "c")
