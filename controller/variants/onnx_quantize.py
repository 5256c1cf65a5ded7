"""int8 ONNX with onnxruntime's quantizer: ``int8-dynamic`` and ``int8-static`` (QDQ).

Dynamic quantization stores int8 weights and quantizes activations at run time; static QDQ
also fixes activation ranges from calibration samples (the user's, or synthetic with a loud
warning). Both first run onnxruntime's pre-processing (shape inference plus basic graph
optimization, which folds computed weights into constants) unless ``preprocess=False``.

The quantizer fails with messages about tensors rather than nodes, or succeeds while writing a
model nothing can load; so the source's ops are checked first (custom ops, already-quantized
models), a quantizer failure is reported with the node it concerns, and the result must load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rigbench.controller.variants import calibration
from rigbench.controller.variants.base import ONNX_TOOLS, CompileJob, Param, Transform, first_line
from rigbench.controller.variants.formats import ONNX, load_onnx
from rigbench.controller.variants.onnx_common import (
    check_known_ops,
    check_loads,
    iter_nodes,
    ops_of,
)
from rigbench.controller.variants.signature import read_signature
from rigbench.errors import InputSpecError, VariantError

# Ops that only appear in a model someone already quantized (or that our result must contain).
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
        "QLinearMatMul", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul",
        "DynamicQuantizeLSTM", "QAttention", "QLinearAdd", "QLinearMul", "MatMulNBits",
        "QGemm", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearSigmoid",
        "QLinearLeakyRelu", "QLinearAveragePool", "QLinearSoftmax",
    }
)  # fmt: skip

_TYPES = {"int8": "QInt8", "uint8": "QUInt8"}

COMMON_PARAMS: dict[str, Param] = {
    "per_channel": Param(False, (bool,), "one scale per output channel of each weight"),
    "reduce_range": Param(
        False, (bool,), "7-bit weights, for CPUs without VNNI (avoids saturation)"
    ),
    "weight_type": Param("int8", (str,), "weight integer type", tuple(_TYPES)),
    "op_types": Param(None, (list, type(None)), "op types to quantize (default: all supported)"),
    "nodes_to_exclude": Param([], (list,), "node names to leave in float"),
    "preprocess": Param(True, (bool,), "run onnxruntime's quantization pre-processing first"),
}


def _reject_quantized(model: Any, variant: str) -> None:
    for node in iter_nodes(model.graph):
        if node.op_type in QUANTIZED_OPS:
            raise VariantError(
                f"{variant}: the source is already quantized (node {node.name!r} is "
                f"{node.op_type}); quantize the float model instead"
            )


def _preprocess(job: CompileJob) -> Path:
    """Shape inference + basic optimization (no sympy-based symbolic shapes)."""
    model = load_onnx(job.source)
    check_known_ops(model, job.variant)
    _reject_quantized(model, job.variant)
    if not job.params["preprocess"]:
        return job.source
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = job.work_dir / "preprocessed.onnx"
    try:
        quant_pre_process(str(job.source), str(out), skip_symbolic_shape=True)
    except Exception as e:  # pre-processing raises whatever onnx/onnxruntime raised
        raise VariantError(
            f"{job.variant}: onnxruntime's quantization pre-processing failed: {first_line(e)}; "
            "retry with params {'preprocess': False}"
        ) from e
    return out


def _culprit(model: Any, message: str) -> str:
    """The node a quantizer message is about, found by the node or tensor names it mentions."""
    # Rank a mention by how specific it is (longer names first), then by how it names the node:
    # its own name, a tensor it reads (the quantizer complains about inputs), one it writes.
    best: tuple[int, int, str] | None = None
    for node in iter_nodes(model.graph):
        label = (
            f"{node.op_type} node {node.name!r}" if node.name else f"unnamed {node.op_type} node"
        )
        mentions = [(3, node.name, label)]
        mentions += [(2, t, f"{label} (reading {t!r})") for t in node.input]
        mentions += [(1, t, f"{label} (writing {t!r})") for t in node.output]
        for rank, name, text in mentions:
            if len(name) >= 2 and name in message:
                cand = (len(name), rank, text)
                if best is None or cand[:2] > best[:2]:
                    best = cand
    return best[2] if best else "an unidentified node"


def _quantizer_error(job: CompileJob, model_path: Path, e: Exception) -> VariantError:
    where = _culprit(load_onnx(model_path), str(e))
    hint = "leave it in float with params {'nodes_to_exclude': [...]}"
    if not job.params["preprocess"]:
        hint += ", or keep preprocess=True (it folds computed weights into constants)"
    return VariantError(
        f"{job.variant}: onnxruntime's quantizer cannot quantize {where}: {first_line(e)}; {hint}"
    )


def _finish(job: CompileJob, out: Path) -> Path:
    check_loads(out, job.variant, "Exclude that node with params {'nodes_to_exclude': [...]}")
    used = ops_of(load_onnx(out))
    if not used & QUANTIZED_OPS:
        job.warn(
            "no node was quantized (no op of a supported type had constant weights); this "
            "variant computes in float like the source"
        )
    return out


def _dynamic(job: CompileJob) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    p = job.params
    model_in = _preprocess(job)
    out = job.artifact_path(ONNX)
    try:
        quantize_dynamic(
            str(model_in),
            str(out),
            op_types_to_quantize=p["op_types"],
            per_channel=p["per_channel"],
            reduce_range=p["reduce_range"],
            weight_type=getattr(QuantType, _TYPES[p["weight_type"]]),
            nodes_to_exclude=list(p["nodes_to_exclude"]),
            extra_options={"EnableSubgraph": p["subgraphs"]},
        )
    except Exception as e:  # the quantizer raises ValueError, KeyError, AssertionError, ...
        raise _quantizer_error(job, model_in, e) from e
    return _finish(job, out)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of samples."""

    def __init__(self, samples: list[dict[str, Any]]) -> None:
        self._it = iter(samples)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._it, None)

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> dict[str, Any]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def _static(job: CompileJob) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    p = job.params
    try:
        samples = calibration.samples(job, read_signature(job.source))
    except InputSpecError as e:
        raise VariantError(f"{job.variant}: {e}") from e
    model_in = _preprocess(job)
    out = job.artifact_path(ONNX)
    method = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
    try:
        quantize_static(
            str(model_in),
            str(out),
            _Reader(samples),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=p["op_types"],
            per_channel=p["per_channel"],
            reduce_range=p["reduce_range"],
            activation_type=getattr(QuantType, _TYPES[p["activation_type"]]),
            weight_type=getattr(QuantType, _TYPES[p["weight_type"]]),
            nodes_to_exclude=list(p["nodes_to_exclude"]),
            calibrate_method=getattr(CalibrationMethod, method[p["calibrate_method"]]),
        )
    except Exception as e:  # calibration runs the model: any onnxruntime error can surface
        raise _quantizer_error(job, model_in, e) from e
    return _finish(job, out)


INT8_DYNAMIC = Transform(
    name="int8-dynamic",
    source_format=ONNX,
    summary="int8 weights, activations quantized at run time (onnxruntime quantize_dynamic)",
    run=_dynamic,
    transform="onnxruntime.quantization.quantize_dynamic",
    tools=ONNX_TOOLS,
    params={
        **COMMON_PARAMS,
        "subgraphs": Param(True, (bool,), "also quantize inside If/Loop bodies"),
    },
)

INT8_STATIC = Transform(
    name="int8-static",
    source_format=ONNX,
    summary="int8 weights and activations, QDQ format, calibrated (onnxruntime quantize_static)",
    run=_static,
    transform="onnxruntime.quantization.quantize_static(QDQ)",
    tools=ONNX_TOOLS,
    params={
        **COMMON_PARAMS,
        **calibration.CALIBRATION_PARAMS,
        "activation_type": Param("int8", (str,), "activation integer type", tuple(_TYPES)),
        "calibrate_method": Param(
            "minmax", (str,), "how ranges are chosen", ("minmax", "entropy", "percentile")
        ),
    },
    fingerprint=calibration.fingerprint,
)
