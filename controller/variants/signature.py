"""A model's inputs and outputs, and sample inputs built from them or checked against them.

Static calibration (here) and the accuracy reference inputs (``controller/accuracy.py``) both
need the same thing: one dict of arrays per sample that fits the model, from the user's .npz
or generated. Every mistake names the input, the dimension, and what was expected vs. given.

Names are those the runtimes report: ONNX graph input names, and for TFLite the tensor names
of ``get_input_details()`` (``serving_default_x:0``), as the agent uses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rigbench import limits
from rigbench.agent.npzfile import read_npz
from rigbench.controller.variants.formats import ONNX, detect_format, load_onnx
from rigbench.errors import InputSpecError

Dim = int | str | None  # fixed size, symbolic name, or unknown
Sample = dict[str, np.ndarray]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output as the model declares it."""

    name: str
    dtype: str  # numpy dtype name
    shape: tuple[Dim, ...]
    quantization: tuple[float, int] | None = None  # TFLite per-tensor (scale, zero point)

    @property
    def is_quantized(self) -> bool:
        """True for an integer tensor that stands for float values via scale and zero point."""
        return self.quantization is not None and self.quantization[0] != 0.0

    @property
    def value_dtype(self) -> np.dtype:
        """The dtype a caller feeds: float32 for a quantized tensor (we quantize), else its own."""
        return np.dtype(np.float32) if self.is_quantized else np.dtype(self.dtype)


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns."""

    format: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def input(self, name: str) -> TensorInfo:
        """The input of that name, or an error listing the inputs there are."""
        for t in self.inputs:
            if t.name == name:
                return t
        raise InputSpecError(f"the model has no input {name!r}; its inputs: {self.input_names()}")

    def input_names(self) -> str:
        """Comma-separated input names, for messages."""
        return ", ".join(t.name for t in self.inputs) or "(none)"


def fmt_shape(shape: Sequence[Dim]) -> str:
    """``[1, 'batch', ?]`` as a person reads it."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _onnx_signature(path: Path) -> Signature:
    from onnx import helper

    model: Any = load_onnx(path)
    init = {i.name for i in model.graph.initializer}

    def info(vi: Any) -> TensorInfo:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise InputSpecError(
                f"{path}: {vi.name!r} is not a tensor (sequence/map inputs are not supported)"
            )
        dims: list[Dim] = []
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(d.dim_param)
            else:
                dims.append(None)
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        return TensorInfo(vi.name, dtype, tuple(dims))

    inputs = tuple(info(v) for v in model.graph.input if v.name not in init)
    outputs = tuple(info(v) for v in model.graph.output)
    return Signature(ONNX, inputs, outputs)


def tflite_tensor_info(d: Mapping[str, Any]) -> TensorInfo:
    """TensorInfo from one LiteRT input/output detail dict (shape signature: -1 is dynamic)."""
    sig = d.get("shape_signature")
    src = sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"]
    shape = tuple(int(s) if int(s) >= 0 else None for s in src)
    scale, zero = d.get("quantization", (0.0, 0))
    quant = (float(scale), int(zero)) if scale else None
    return TensorInfo(str(d["name"]), np.dtype(d["dtype"]).name, shape, quant)


def _tflite_signature(path: Path) -> Signature:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    return Signature(
        "tflite",
        tuple(tflite_tensor_info(d) for d in it.get_input_details()),
        tuple(tflite_tensor_info(d) for d in it.get_output_details()),
    )


def read_signature(path: Path) -> Signature:
    """Inputs and outputs of an ONNX or TFLite file (format detected from its content)."""
    path = Path(path)
    return _onnx_signature(path) if detect_format(path) == ONNX else _tflite_signature(path)


def resolve_shape(
    info: TensorInfo, override: Sequence[int] | None, hint: str = "shapes"
) -> tuple[int, ...]:
    """The concrete shape of one input; a dynamic dim without an override names input and dim.

    ``hint`` is the argument name the message tells the caller to fill in.
    """
    if override is not None:
        shape = tuple(int(d) for d in override)
        check_shape(info, shape, "the shape override")
        return shape
    dims = []
    for i, d in enumerate(info.shape):
        if not isinstance(d, int):
            label = f" ({d!r})" if isinstance(d, str) else ""
            example = [x if isinstance(x, int) else 1 for x in info.shape]
            raise InputSpecError(
                f"input {info.name!r} dimension {i}{label} is dynamic in {fmt_shape(info.shape)}; "
                f"give its shape, e.g. {hint}={{{info.name!r}: {example}}}"
            )
        dims.append(d)
    return tuple(dims)


def check_shape(info: TensorInfo, shape: tuple[int, ...], what: str) -> None:
    """Raise naming the input when ``shape`` cannot feed it (rank, fixed dims, positive)."""
    if len(shape) != len(info.shape):
        raise InputSpecError(
            f"input {info.name!r}: expected rank {len(info.shape)} {fmt_shape(info.shape)}, "
            f"got {what} of shape {list(shape)}"
        )
    for i, (want, got) in enumerate(zip(info.shape, shape, strict=True)):
        if got <= 0 and not (isinstance(want, int) and want == got):
            raise InputSpecError(
                f"input {info.name!r} dimension {i}: size must be positive, got {got}"
            )
        if isinstance(want, int) and want != got:
            raise InputSpecError(
                f"input {info.name!r}: expected shape {fmt_shape(info.shape)}, got {what} of shape "
                f"{list(shape)} (dimension {i} is fixed to {want})"
            )


def _quantized_range(info: TensorInfo) -> tuple[float, float]:
    assert info.quantization is not None
    scale, zero = info.quantization
    ii = np.iinfo(np.dtype(info.dtype))
    return (ii.min - zero) * scale, (ii.max - zero) * scale


def random_tensor(
    info: TensorInfo,
    shape: tuple[int, ...],
    rng: np.random.Generator,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Plausible values: normal floats, small non-negative ints, random bools.

    A quantized TFLite input gets float values spread over the range its scale and zero point
    can represent, since callers feed floats and the runtime side quantizes. ``value_range``
    (low, high) draws uniformly from it instead, inclusive for integers (token ids).
    """
    dt = np.dtype(info.dtype)
    if value_range is not None and dt.kind in "iuf":
        lo, hi = value_range
        if info.is_quantized or dt.kind == "f":
            return rng.uniform(lo, hi, size=shape).astype(info.value_dtype)
        ii = np.iinfo(dt)
        if lo < ii.min or hi > ii.max:
            raise InputSpecError(
                f"input {info.name!r} is {dt.name}: range [{lo:g}, {hi:g}] does not fit it"
            )
        return rng.integers(int(lo), int(hi), size=shape, endpoint=True).astype(dt)
    if info.is_quantized:
        lo, hi = _quantized_range(info)
        return rng.uniform(lo, hi, size=shape).astype(np.float32)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        return rng.integers(0, min(10, int(np.iinfo(dt).max)), size=shape).astype(dt)
    raise InputSpecError(f"input {info.name!r} has dtype {dt.name}, which rigbench cannot generate")


def _check_names(sig: Signature, names: Sequence[str], what: str) -> None:
    known = {t.name for t in sig.inputs}
    for name in names:
        if name not in known:
            raise InputSpecError(
                f"{what} names {name!r}, which is not an input; inputs: {sig.input_names()}"
            )


def synthesize(
    sig: Signature,
    n: int,
    seed: int,
    shapes: Mapping[str, Sequence[int]] | None = None,
    values: Mapping[str, Any] | None = None,
    hint: str = "shapes",
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[Sample]:
    """``n`` seeded samples; ``values`` fixes an input (broadcast to its shape), e.g. a rate.

    ``ranges`` draws an input's values from [low, high] (inclusive for integers).
    """
    if n < 1:
        raise InputSpecError(f"number of samples must be at least 1, got {n}")
    shapes = dict(shapes or {})
    values = dict(values or {})
    _check_names(sig, list(shapes), "a shape override")
    _check_names(sig, list(values), "a fixed value")
    ranges = dict(ranges or {})
    _check_names(sig, list(ranges), "a value range")
    resolved = {}
    for t in sig.inputs:
        override = shapes.get(t.name)
        if override is None and t.name in values and np.ndim(values[t.name]) == len(t.shape):
            override = np.shape(values[t.name])  # a full array fixes its own shape
        resolved[t.name] = resolve_shape(t, override, hint)
    available = limits.available_memory_bytes()
    sample_bytes = 0
    for t in sig.inputs:
        sample_bytes += limits.check_input_size(t.name, resolved[t.name], t.value_dtype, available)
    limits.check_samples_size(n, sample_bytes, "samples", available)
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for _ in range(n):
        sample: Sample = {}
        for t in sig.inputs:
            shape = resolved[t.name]
            if t.name in values:
                try:
                    arr = np.broadcast_to(np.asarray(values[t.name], dtype=t.value_dtype), shape)
                except ValueError as e:
                    raise InputSpecError(
                        f"fixed value for input {t.name!r} does not fit shape {list(shape)}: {e}"
                    ) from e
                sample[t.name] = np.array(arr)
            else:
                sample[t.name] = random_tensor(t, shape, rng, ranges.get(t.name))
        out.append(sample)
    return out


def split_samples(sig: Signature, arrays: Mapping[str, np.ndarray], what: str) -> list[Sample]:
    """Per-sample dicts from arrays keyed by input name.

    An array of the input's rank is one sample; one extra leading axis stacks samples. Every
    input must be present, each with the same number of samples, each fitting the input.
    """
    _check_names(sig, list(arrays), what)
    missing = [t.name for t in sig.inputs if t.name not in arrays]
    if missing:
        raise InputSpecError(
            f"{what} lacks input(s) {', '.join(map(repr, missing))}; inputs: {sig.input_names()}"
        )
    stacks: dict[str, np.ndarray] = {}
    for t in sig.inputs:
        arr = np.asarray(arrays[t.name])
        if arr.ndim == len(t.shape):
            arr = arr[np.newaxis]
        elif arr.ndim != len(t.shape) + 1:
            raise InputSpecError(
                f"input {t.name!r}: expected shape {fmt_shape(t.shape)} (or samples x that), "
                f"got {what} array of shape {list(arr.shape)}"
            )
        check_shape(t, tuple(arr.shape[1:]), f"{what} samples")
        want = t.value_dtype
        if arr.dtype != want:
            if not np.can_cast(arr.dtype, want, casting="same_kind"):
                raise InputSpecError(
                    f"input {t.name!r} is {want.name}, but {what} gives {arr.dtype.name}"
                )
            arr = arr.astype(want)
        stacks[t.name] = arr
    counts = {name: a.shape[0] for name, a in stacks.items()}
    if len(set(counts.values())) > 1:
        raise InputSpecError(f"{what}: inputs have different numbers of samples: {counts}")
    n = next(iter(counts.values()), 0)
    return [{name: np.ascontiguousarray(a[i]) for name, a in stacks.items()} for i in range(n)]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file (no pickles, bounded); one clear error when it cannot be read."""
    return read_npz(Path(path), str(path))
