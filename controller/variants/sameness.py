"""Whether a compiled variant computes exactly what its parent does: same graph, same weights.

Quantizers return a new file even when they quantized nothing (ai-edge-quantizer on a model
whose weights are float16 behind DEQUANTIZE ops, onnxruntime's static quantizer on weights
inside If branches): a few bytes of metadata or buffer layout differ, the compute does not.
Measuring such a "variant" as a separate choice only ranks noise (33 ms vs 15 ms for the same
compute was seen). So the graph and the weights are compared, not the bytes: operators with
their types, options and operand tensors (shape, dtype, quantization, constant data), in order.
Names, metadata, producer strings and buffer placement are ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.variants.formats import ONNX, TFLITE, detect_format, load_onnx


def _update(h: Any, *parts: object) -> None:
    for p in parts:
        if isinstance(p, (bytes, bytearray)):
            h.update(bytes(p))
        else:
            h.update(repr(p).encode())
        h.update(b"\x00")


def _options(obj: Any) -> object:
    """A plain, comparable form of a flatbuffer options object (or None)."""
    if obj is None:
        return None
    if isinstance(obj, (int, float, str, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_options(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__dict__"):
        return sorted((k, _options(v)) for k, v in vars(obj).items())
    return repr(obj)


def _array(v: Any) -> list[Any] | None:
    if v is None:
        return None
    return np.asarray(v).tolist()


def _tflite_digest(path: Path) -> str:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    h = hashlib.sha256()
    codes = []
    for c in model.operatorCodes:
        code = max(int(c.builtinCode or 0), int(c.deprecatedBuiltinCode or 0))
        custom = c.customCode.decode() if isinstance(c.customCode, bytes) else c.customCode
        codes.append((code, custom))
    buffers = model.buffers
    for sg in model.subgraphs:
        tensors = sg.tensors or []

        def tensor(i: int, tensors: Any = tensors) -> tuple[object, ...]:
            if i < 0:
                return ("none",)
            t = tensors[i]
            q = t.quantization
            quant = (_array(q.scale), _array(q.zeroPoint), q.quantizedDimension) if q else None
            data = buffers[t.buffer].data if t.buffer < len(buffers) else None
            raw = np.asarray(data, dtype=np.uint8).tobytes() if data is not None else b""
            digest = hashlib.sha256(raw).hexdigest() if raw else ""
            return (_array(t.shape), int(t.type), quant, digest, bool(t.isVariable))

        _update(h, "subgraph", [tensor(i) for i in sg.inputs], [tensor(i) for i in sg.outputs])
        for op in sg.operators or []:
            _update(
                h,
                codes[op.opcodeIndex],
                [tensor(int(i)) for i in op.inputs],
                [tensor(int(i)) for i in op.outputs],
                _options(op.builtinOptions),
                bytes(np.asarray(op.customOptions, dtype=np.uint8).tobytes())
                if op.customOptions is not None
                else b"",
            )
    return h.hexdigest()


def _onnx_digest(path: Path) -> str:
    from onnx import numpy_helper

    model: Any = load_onnx(path)
    h = hashlib.sha256()
    _update(h, sorted((o.domain, o.version) for o in model.opset_import))

    def graph(g: Any) -> None:
        for t in sorted(g.initializer, key=lambda t: t.name):
            arr = numpy_helper.to_array(t)
            _update(h, t.name, arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).digest())
        _update(h, [i.name for i in g.input], [o.name for o in g.output])
        for n in g.node:
            attrs = []
            for a in n.attribute:
                if a.g is not None and a.HasField("g"):
                    graph(a.g)
                attrs.append((a.name, a.type, a.SerializeToString(deterministic=True)))
            _update(h, n.op_type, n.domain, list(n.input), list(n.output), attrs)

    graph(model.graph)
    return h.hexdigest()


def compute_digest(path: Path) -> str:
    """A digest of what a model computes (graph and weights), blind to names and metadata."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == TFLITE:
        return _tflite_digest(path)
    if fmt == ONNX:
        return _onnx_digest(path)
    raise ValueError(f"{path}: no compute digest for format {fmt}")


def same_compute(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` have the same graph and weights (same format required)."""
    if detect_format(Path(a)) != detect_format(Path(b)):
        return False
    return compute_digest(a) == compute_digest(b)
