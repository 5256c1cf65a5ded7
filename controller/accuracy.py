"""How far a compiled variant's outputs are from the fp32 source's, on fixed reference inputs.

Latency alone ranks an int8 model that answers wrongly above a float one that answers right. So
the controller makes a fixed set of reference inputs (seeded, or the user's .npz), computes the
fp32 source's outputs on its own CPU, and every device job returns its outputs for the same
inputs (as floats: the agent dequantizes int8 outputs); ``compare`` turns the two into errors,
cosine similarity and, for classifier-shaped outputs, top-1/top-5 agreement.

Inputs are floats in the model's value domain even when a TFLite tensor is int8: whoever runs
the model quantizes with the tensor's scale and zero point (``reference_outputs`` here, the
agent on the device), so the same reference inputs serve a float and a quantized variant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.runtimes.base import dequantize, quantize
from rigbench.controller.variants.formats import ONNX, check_model
from rigbench.controller.variants.signature import (
    Sample,
    Signature,
    load_npz,
    read_signature,
    split_samples,
    synthesize,
)
from rigbench.errors import AccuracyError, InputSpecError, ModelLoadError

__all__ = [
    "AccuracyError",
    "AccuracyReport",
    "OutputAccuracy",
    "compare",
    "make_reference_inputs",
    "reference_outputs",
    "within_tolerance",
]


# --- reference inputs ------------------------------------------------------------------------


def make_reference_inputs(
    model: Path,
    n: int = 8,
    seed: int = 0,
    shapes: Mapping[str, Sequence[int]] | None = None,
    values: Mapping[str, Any] | None = None,
    npz: Path | None = None,
) -> list[dict[str, np.ndarray]]:
    """The reference inputs for ``model`` (ONNX or TFLite): from ``npz``, else ``n`` seeded ones.

    ``shapes`` resolves dynamic dimensions (an unresolved one is an ``InputSpecError`` naming the
    input and the dimension); ``values`` fixes inputs such as a sample rate (``{"sr": 16000}``),
    broadcast to the input's shape. Generated values: standard-normal floats, integers in
    [0, 10), random bools, and for a quantized TFLite input floats spread over the range its
    scale and zero point represent. In an .npz, an array of the input's rank is one sample and
    one extra leading axis stacks samples; all of them are used (``n`` does not cut them).
    """
    sig = read_signature(Path(model))
    if npz is not None:
        return split_samples(sig, load_npz(Path(npz)), f"reference inputs {Path(npz).name}")
    return synthesize(sig, n, seed, shapes, values)


# --- reference outputs -----------------------------------------------------------------------


def _onnx_outputs(model: Path, inputs: Sequence[Sample], sig: Signature) -> list[Sample]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's pybind exceptions share no base class
        raise ModelLoadError(f"onnxruntime cannot load {model}: {e}") from e
    names = [o.name for o in sess.get_outputs()]
    out = []
    for i, sample in enumerate(inputs):
        feeds = {t.name: np.asarray(sample[t.name], dtype=t.dtype) for t in sig.inputs}
        try:
            arrays = sess.run(names, feeds)
        except Exception as e:  # wrong shape, value the model rejects
            raise InputSpecError(f"reference input {i} does not run on {model.name}: {e}") from e
        out.append({n: np.asarray(a) for n, a in zip(names, arrays, strict=True)})
    return out


def _tflite_outputs(model: Path, inputs: Sequence[Sample], sig: Signature) -> list[Sample]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from rigbench.controller.variants.signature import tflite_tensor_info

    # Builtin kernels without XNNPACK: the plain reference implementation of each op.
    it = Interpreter(
        model_path=str(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    in_details = it.get_input_details()
    out_details = it.get_output_details()
    in_info = [tflite_tensor_info(d) for d in in_details]
    out_info = [tflite_tensor_info(d) for d in out_details]
    shapes: dict[int, tuple[int, ...]] = {}
    allocated = False
    results = []
    for i, sample in enumerate(inputs):
        resized = False
        for d, info in zip(in_details, in_info, strict=True):
            shape = tuple(np.shape(sample[info.name]))
            if shapes.get(d["index"], tuple(d["shape"])) != shape:
                it.resize_tensor_input(d["index"], list(shape), strict=True)
                shapes[d["index"]] = shape
                resized = True
        if resized or not allocated:
            it.allocate_tensors()
            allocated = True
        # Stateful models (streaming wake-word/VAD) keep variables between calls: each
        # reference sample starts from the initial state, so results do not depend on order.
        it.reset_all_variables()
        for d, info in zip(in_details, in_info, strict=True):
            x = np.asarray(sample[info.name])
            arr = quantize(x, info) if info.is_quantized else x.astype(info.dtype)
            it.set_tensor(d["index"], np.ascontiguousarray(arr))
        try:
            it.invoke()
        except (RuntimeError, ValueError) as e:
            raise InputSpecError(f"reference input {i} does not run on {model.name}: {e}") from e
        res = {}
        for d, info in zip(out_details, out_info, strict=True):
            arr = it.get_tensor(d["index"])
            res[info.name] = dequantize(arr, info) if info.is_quantized else np.array(arr)
        results.append(res)
    return results


def reference_outputs(model: Path, inputs: Sequence[Mapping[str, np.ndarray]]) -> list[Sample]:
    """Outputs of ``model`` for each input sample, on this machine's CPU.

    ONNX runs in onnxruntime (CPU provider), TFLite in LiteRT (builtin kernels). A quantized
    TFLite input is fed by quantizing the float sample with the tensor's scale and zero point,
    and a quantized output is dequantized, so outputs are always in the float domain.
    """
    model = Path(model)
    fmt = check_model(model)
    sig = read_signature(model)
    checked = [dict(s) for s in inputs]
    for i, s in enumerate(checked):
        missing = [t.name for t in sig.inputs if t.name not in s]
        if missing:
            raise InputSpecError(
                f"reference input {i} lacks {', '.join(map(repr, missing))}; "
                f"inputs: {sig.input_names()}"
            )
    if fmt == ONNX:
        return _onnx_outputs(model, checked, sig)
    return _tflite_outputs(model, checked, sig)


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputAccuracy:
    """How one output of the candidate differs from the reference, over all samples."""

    name: str
    shape: tuple[int, ...]  # of the first sample
    max_abs_err: float
    mean_abs_err: float
    cosine_similarity: float  # mean over samples of the flattened outputs' cosine
    top1_agreement: float | None  # classifier-shaped outputs only: 2-D [N, C], C >= 2
    top5_agreement: float | None  # reference top-1 in candidate top-5; only when C > 5
    n_samples: int
    n_nonfinite: int  # NaN/inf values in the candidate


@dataclass(frozen=True)
class AccuracyReport:
    """Per-output figures and the overall worst case.

    Overall: the largest max error, the element-weighted mean error, the lowest cosine and the
    lowest top-k agreement over the outputs (None when no output is classifier-shaped).
    """

    outputs: tuple[OutputAccuracy, ...]
    max_abs_err: float
    mean_abs_err: float
    cosine_similarity: float
    top1_agreement: float | None
    top5_agreement: float | None
    n_samples: int

    def output(self, name: str) -> OutputAccuracy:
        """The figures of one output by name."""
        for o in self.outputs:
            if o.name == name:
                return o
        raise AccuracyError(
            f"no output {name!r}; outputs: {', '.join(o.name for o in self.outputs)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists; NaN stays a float NaN)."""
        d = asdict(self)
        d["outputs"] = [{**o, "shape": list(o["shape"])} for o in d["outputs"]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccuracyReport:
        """Inverse of ``to_dict``."""
        outputs = tuple(OutputAccuracy(**{**o, "shape": tuple(o["shape"])}) for o in d["outputs"])
        return cls(**{**d, "outputs": outputs})


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two flattened arrays; two all-zero arrays are identical (1), one is 0."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if not (math.isfinite(na) and math.isfinite(nb)):
        return math.nan
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))


def _is_classifier(shapes: Sequence[tuple[int, ...]]) -> bool:
    return all(len(s) == 2 and s[1] >= 2 for s in shapes) and len({s[1] for s in shapes}) == 1


def _topk(ref: list[np.ndarray], cand: list[np.ndarray]) -> tuple[float | None, float | None]:
    r = np.concatenate(ref, axis=0)
    c = np.concatenate(cand, axis=0)
    if not (np.isfinite(r).all() and np.isfinite(c).all()):
        return math.nan, (math.nan if r.shape[1] > 5 else None)
    r_top = np.argmax(r, axis=1)
    top1 = float(np.mean(r_top == np.argmax(c, axis=1)))
    if r.shape[1] <= 5:
        return top1, None
    c_top5 = np.argsort(-c, axis=1, kind="stable")[:, :5]
    return top1, float(np.mean((c_top5 == r_top[:, None]).any(axis=1)))


def _compare_output(name: str, ref: list[np.ndarray], cand: list[np.ndarray]) -> OutputAccuracy:
    r64 = [np.asarray(a, dtype=np.float64) for a in ref]
    c64 = [np.asarray(a, dtype=np.float64) for a in cand]
    diffs = np.concatenate([np.abs(a - b).ravel() for a, b in zip(r64, c64, strict=True)])
    with np.errstate(invalid="ignore"):
        max_err = float(np.max(diffs)) if diffs.size else 0.0
        mean_err = float(np.mean(diffs)) if diffs.size else 0.0
    cos = float(np.mean([_cosine(a.ravel(), b.ravel()) for a, b in zip(r64, c64, strict=True)]))
    shapes = [a.shape for a in r64]
    top1, top5 = _topk(r64, c64) if _is_classifier(shapes) else (None, None)
    return OutputAccuracy(
        name=name,
        shape=tuple(int(d) for d in shapes[0]),
        max_abs_err=max_err,
        mean_abs_err=mean_err,
        cosine_similarity=cos,
        top1_agreement=top1,
        top5_agreement=top5,
        n_samples=len(ref),
        n_nonfinite=int(sum(np.size(b) - np.count_nonzero(np.isfinite(b)) for b in c64)),
    )


def _worst(values: Sequence[float | None], pick: Any) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if any(math.isnan(v) for v in vals):
        return math.nan
    return float(pick(vals))


def compare(
    reference: Sequence[Mapping[str, np.ndarray]], candidate: Sequence[Mapping[str, np.ndarray]]
) -> AccuracyReport:
    """Per-output and overall errors of ``candidate`` against ``reference``, sample by sample.

    Both are lists of ``{output name: array}``, one per reference input, in the same order.
    Different sample counts, output names or shapes are an ``AccuracyError`` that says which.
    """
    if len(reference) != len(candidate):
        raise AccuracyError(
            f"reference has {len(reference)} samples but candidate has {len(candidate)}"
        )
    if not reference:
        raise AccuracyError("nothing to compare: no samples")
    names = list(reference[0])
    if not names:
        raise AccuracyError("nothing to compare: the reference has no outputs")
    for i, (r, c) in enumerate(zip(reference, candidate, strict=True)):
        if set(r) != set(names):
            raise AccuracyError(f"reference sample {i} has outputs {sorted(r)}, sample 0 {names}")
        if set(c) != set(r):
            missing, extra = sorted(set(r) - set(c)), sorted(set(c) - set(r))
            raise AccuracyError(
                f"sample {i}: candidate outputs differ from the reference's: missing {missing}, "
                f"unexpected {extra}"
            )
        for name in names:
            rs, cs = np.shape(r[name]), np.shape(c[name])
            if rs != cs:
                raise AccuracyError(
                    f"sample {i}, output {name!r}: reference shape {list(rs)}, "
                    f"candidate shape {list(cs)}"
                )
    outs = tuple(
        _compare_output(
            n, [np.asarray(r[n]) for r in reference], [np.asarray(c[n]) for c in candidate]
        )
        for n in names
    )
    total = sum(float(np.size(r[o.name])) for r in reference for o in outs)
    weighted = sum(o.mean_abs_err * sum(np.size(r[o.name]) for r in reference) for o in outs)
    return AccuracyReport(
        outputs=outs,
        max_abs_err=_worst([o.max_abs_err for o in outs], max) or 0.0,
        mean_abs_err=weighted / total if total else 0.0,
        cosine_similarity=_worst([o.cosine_similarity for o in outs], min) or 0.0,
        top1_agreement=_worst([o.top1_agreement for o in outs], min),
        top5_agreement=_worst([o.top5_agreement for o in outs], min),
        n_samples=len(reference),
    )


# --- tolerance -------------------------------------------------------------------------------

_UPPER = ("max_abs_err", "mean_abs_err")  # at most
_LOWER = ("cosine_similarity", "top1_agreement", "top5_agreement")  # at least


def within_tolerance(
    report: AccuracyReport, tolerance: Mapping[str, float]
) -> tuple[bool, list[str]]:
    """Whether the overall figures meet every bound given, and why not.

    Bounds: ``max_abs_err``/``mean_abs_err`` at most, ``cosine_similarity``/``top1_agreement``/
    ``top5_agreement`` at least. A NaN figure fails. A bound on a figure that does not apply
    (top-k without a classifier-shaped output) fails too: a bound that cannot be checked is not
    met, and silently passing it would hide a misconfigured plan.
    """
    unknown = sorted(set(tolerance) - set(_UPPER) - set(_LOWER))
    if unknown:
        raise AccuracyError(
            f"unknown tolerance key(s) {unknown}; known: {', '.join(_UPPER + _LOWER)}"
        )
    reasons = []
    for key, bound in tolerance.items():
        value = getattr(report, key)
        if value is None:
            reasons.append(f"{key} >= {bound} required, but no output is classifier-shaped")
        elif math.isnan(value):
            reasons.append(f"{key} is NaN (non-finite outputs)")
        elif key in _UPPER and value > bound:
            reasons.append(f"{key} = {value:.6g} exceeds {bound}")
        elif key in _LOWER and value < bound:
            reasons.append(f"{key} = {value:.6g} is below {bound}")
    return not reasons, reasons
