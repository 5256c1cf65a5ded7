"""Quantized TFLite from a float TFLite with ai-edge-quantizer (no TensorFlow needed).

``tflite-int8-dynamic``: int8 weights, activations quantized at run time.
``tflite-int8-weight`` / ``tflite-int4-weight``: int8/int4 weights dequantized to float before
each op (smaller file, float compute, little accuracy loss).
``tflite-int8-static``: int8 weights and activations (int16 with ``activation_bits=16``),
calibrated; the result takes and returns quantized tensors, so feeding it means quantizing with
the input's scale and zero point (the agent and ``accuracy.reference_outputs`` do).

An already-quantized source is refused, naming a quantized tensor: ai-edge-quantizer would
otherwise return it unchanged and the "variant" would silently be the source again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.variants import calibration
from rigbench.controller.variants.base import TFLITE_TOOLS, CompileJob, Param, Transform, first_line
from rigbench.controller.variants.formats import TFLITE, check_tflite
from rigbench.controller.variants.signature import read_signature
from rigbench.errors import InputSpecError, ModelLoadError, VariantError

_INT_KINDS = "iu"


def quantized_tensors(path: Path) -> list[tuple[str, str, str]]:
    """(tensor name, dtype, op that reads it) for every integer tensor with a scale."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    readers: dict[int, str] = {}
    for op in it._get_ops_details():  # the only API that lists ops and their operands
        for idx in op["inputs"]:
            readers.setdefault(int(idx), op["op_name"])
    out = []
    for t in it.get_tensor_details():
        scales = t["quantization_parameters"]["scales"]
        if np.dtype(t["dtype"]).kind in _INT_KINDS and len(scales) and float(np.max(scales)) != 0:
            out.append((t["name"], np.dtype(t["dtype"]).name, readers.get(t["index"], "no op")))
    return out


def _signature_inputs(path: Path) -> tuple[str, dict[str, str]]:
    """(signature key, tensor name -> signature input name) of the model's first signature."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    sigs = it.get_signature_list()
    if not sigs:
        raise VariantError(
            "the TFLite model has no signature; ai-edge-quantizer calibrates through signatures, "
            "so re-export it with one"
        )
    key = next(iter(sigs))
    details = it.get_signature_runner(key).get_input_details()
    return key, {d["name"]: sig_name for sig_name, d in details.items()}


def _calibration_data(job: CompileJob) -> dict[str, list[dict[str, np.ndarray]]]:
    try:
        samples = calibration.samples(job, read_signature(job.source))
    except InputSpecError as e:
        raise VariantError(f"{job.variant}: {e}") from e
    key, names = _signature_inputs(job.source)
    return {key: [{names[k]: v for k, v in s.items()} for s in samples]}


def _quantize(job: CompileJob, make_recipe: Callable[[dict[str, Any]], Any]) -> Path:
    from ai_edge_quantizer import quantizer

    already = quantized_tensors(job.source)
    if already:
        name, dtype, op = already[0]
        raise VariantError(
            f"{job.variant}: the source is already quantized (tensor {name!r} is {dtype} with a "
            f"scale, read by {op}); quantize the float model instead"
        )
    out = job.artifact_path(TFLITE)
    try:
        with warnings.catch_warnings():
            # Calibration keeps every intermediate tensor on purpose; LiteRT's "intended for
            # debugging" warning about that is noise here.
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            qt = quantizer.Quantizer(str(job.source), make_recipe(job.params))
            calib = qt.calibrate(_calibration_data(job)) if qt.need_calibration else None
            result = qt.quantize(calib, enable_progress_bar=False, enable_progress_report=False)
    except VariantError:
        raise
    except Exception as e:  # ai-edge-quantizer raises ValueError/RuntimeError/KeyError...
        raise VariantError(f"{job.variant}: ai-edge-quantizer failed: {first_line(e)}") from e
    if result.quantized_model is None:
        raise VariantError(f"{job.variant}: ai-edge-quantizer returned no model")
    out.write_bytes(bytes(result.quantized_model))
    try:
        check_tflite(out)
    except ModelLoadError as e:
        raise VariantError(
            f"{job.variant}: the quantized model does not load in LiteRT: {e}"
        ) from e
    if not quantized_tensors(out):
        job.warn(
            "no tensor was quantized (no op ai-edge-quantizer supports); same compute as the source"
        )
    return out


def _dynamic(_p: dict[str, Any]) -> Any:
    from ai_edge_quantizer import recipe

    return recipe.dynamic_wi8_afp32()


def _weight8(_p: dict[str, Any]) -> Any:
    from ai_edge_quantizer import recipe

    return recipe.weight_only_wi8_afp32()


def _weight4(_p: dict[str, Any]) -> Any:
    from ai_edge_quantizer import recipe

    return recipe.weight_only_wi4_afp32()


def _static(p: dict[str, Any]) -> Any:
    from ai_edge_quantizer import recipe

    return recipe.static_wi8_ai16() if p["activation_bits"] == 16 else recipe.static_wi8_ai8()


def _transform(
    name: str, summary: str, make: Callable[[dict[str, Any]], Any], recipe: str, **kw: Any
) -> Transform:
    return Transform(
        name=name,
        source_format=TFLITE,
        summary=summary,
        run=lambda job: _quantize(job, make),
        transform=f"ai_edge_quantizer.recipe.{recipe}",
        tools=TFLITE_TOOLS,
        **kw,
    )


TFLITE_INT8_DYNAMIC = _transform(
    "tflite-int8-dynamic",
    "int8 weights, activations quantized at run time",
    _dynamic,
    "dynamic_wi8_afp32",
)
TFLITE_INT8_WEIGHT = _transform(
    "tflite-int8-weight",
    "int8 weights dequantized before each op (float compute)",
    _weight8,
    "weight_only_wi8_afp32",
)
TFLITE_INT4_WEIGHT = _transform(
    "tflite-int4-weight",
    "int4 weights dequantized before each op (float compute)",
    _weight4,
    "weight_only_wi4_afp32",
)
TFLITE_INT8_STATIC = _transform(
    "tflite-int8-static",
    "int8 weights and activations, calibrated; quantized inputs and outputs",
    _static,
    "static_wi8_ai8 (static_wi8_ai16 when activation_bits=16)",
    params={
        **calibration.CALIBRATION_PARAMS,
        "activation_bits": Param(8, (int,), "activation bits (16: int16 activations)", (8, 16)),
    },
    fingerprint=calibration.fingerprint,
)
