"""The yardstick: fixed reference inputs, and the source model's outputs for them.

Latency alone ranks an int8 model that answers wrongly above a float one that answers right. So
the controller makes a fixed set of reference inputs (seeded, the user's .npz, or a dataset),
computes the source's outputs for them on its own CPU, and every device job returns its outputs
for the same inputs (as floats: the agent dequantizes int8 outputs); ``metrics.compare`` turns
the two into per-output figures.

Reference parity: the reference is computed with the same *kernel family* as the job it is
compared with (``kernel_family``). A TFLite source measured on LiteRT with XNNPACK is compared
with XNNPACK's own outputs (which also supplies custom ops such as
``Convolution2DTransposeBias`` that the builtin kernels lack); one measured with the builtin
kernels (delegate ``none``) with the builtin kernels' outputs; an ONNX source with onnxruntime's
CPU kernels. So a source compared with its own reference agrees to float rounding, and what a
variant's error shows is the variant, not a different summation order in another library.
The reference stays on the controller (not the source's job on each device) on purpose: a
device whose fp32 answers are wrong must show an error, not become its own yardstick.

Inputs are floats in the model's value domain even when a TFLite tensor is int8: whoever runs
the model quantizes with the tensor's scale and zero point (``reference_outputs`` here, the
agent on the device), so the same reference inputs serve a float and a quantized variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import RuntimeConfig
from rigbench.controller.variants.formats import ONNX, TFLITE, check_model
from rigbench.controller.variants.signature import (
    Sample,
    Signature,
    load_npz,
    read_signature,
    split_samples,
    synthesize,
)
from rigbench.errors import InputSpecError, ModelLoadError
from rigbench.quantization import dequantize, quantize

ORT_CPU = "onnxruntime-cpu"
LITERT_XNNPACK = "litert-xnnpack"
LITERT_BUILTIN = "litert-builtin"
KERNEL_FAMILIES = (ORT_CPU, LITERT_XNNPACK, LITERT_BUILTIN)


def kernel_family(source_format: str, runtime: RuntimeConfig) -> str:
    """Which kernels compute the reference that a job on ``runtime`` is compared with.

    The source's own runtime when the job's runtime can run the source (LiteRT with the job's
    delegate), else the source format's own runtime on CPU: an ONNX source's TFLite twin is
    compared with onnxruntime's outputs of the ONNX source.
    """
    if source_format == TFLITE:
        from rigbench.agent.runtimes.litert import delegate_of

        if runtime.runtime == "litert" and delegate_of(runtime) == "none":
            return LITERT_BUILTIN
        return LITERT_XNNPACK
    return ORT_CPU


# --- reference inputs ------------------------------------------------------------------------


def make_reference_inputs(
    model: Path,
    n: int = 8,
    seed: int = 0,
    shapes: Mapping[str, Sequence[int]] | None = None,
    values: Mapping[str, Any] | None = None,
    npz: Path | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The reference inputs for ``model`` (ONNX or TFLite): from ``npz``, else ``n`` seeded ones.

    ``shapes`` resolves dynamic dimensions (an unresolved one is an ``InputSpecError`` naming the
    input and the dimension); ``values`` fixes inputs such as a sample rate (``{"sr": 16000}``),
    broadcast to the input's shape; ``ranges`` draws an input from [low, high] (token ids of a
    vocabulary). Generated values otherwise: standard-normal floats, integers in [0, 10), random
    bools, and for a quantized TFLite input floats spread over the range its scale and zero
    point represent. In an .npz, an array of the input's rank is one sample and
    one extra leading axis stacks samples; all of them are used (``n`` does not cut them).
    """
    sig = read_signature(Path(model))
    if npz is not None:
        return split_samples(sig, load_npz(Path(npz)), f"reference inputs {Path(npz).name}")
    return synthesize(sig, n, seed, shapes, values, ranges=ranges)


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
            raise InputSpecError(
                f"reference input {i} does not run on {model.name}: {_first_line(e)}"
            ) from e
        out.append({n: np.asarray(a) for n, a in zip(names, arrays, strict=True)})
    return out


def _tflite_outputs(
    model: Path, inputs: Sequence[Sample], sig: Signature, family: str
) -> list[Sample]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from rigbench.controller.variants.signature import tflite_tensor_info

    # AUTO: builtin ops with the XNNPACK delegate (and the custom ops it provides), as the
    # agent runs delegate "xnnpack"; BUILTIN_WITHOUT_DEFAULT_DELEGATES as it runs "none".
    resolver = (
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if family == LITERT_BUILTIN
        else OpResolverType.AUTO
    )
    try:
        it = Interpreter(
            model_path=str(model), experimental_op_resolver_type=resolver, num_threads=1
        )
    except (RuntimeError, ValueError) as e:
        raise ModelLoadError(f"LiteRT cannot load {model.name}: {_first_line(e)}") from e
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
            try:
                it.allocate_tensors()
            except (RuntimeError, ValueError) as e:  # an op these kernels do not have
                raise ModelLoadError(
                    f"LiteRT ({family}) cannot run {model.name}: {_first_line(e)}"
                ) from e
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
            raise InputSpecError(
                f"reference input {i} does not run on {model.name}: {_first_line(e)}"
            ) from e
        res = {}
        for d, info in zip(out_details, out_info, strict=True):
            arr = it.get_tensor(d["index"])
            res[info.name] = dequantize(arr, info) if info.is_quantized else np.array(arr)
        results.append(res)
    return results


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def reference_outputs(
    model: Path, inputs: Sequence[Mapping[str, np.ndarray]], family: str | None = None
) -> list[Sample]:
    """Outputs of ``model`` for each input sample, on this machine's CPU.

    ONNX runs in onnxruntime (CPU provider); TFLite in LiteRT with the kernels of ``family``
    (``litert-xnnpack``, the default, or ``litert-builtin``). A quantized TFLite input is fed by
    quantizing the float sample with the tensor's scale and zero point, and a quantized output
    is dequantized, so outputs are always in the float domain. A model these kernels cannot run
    is a ``ModelLoadError`` with LiteRT's first line (e.g. an unresolved custom op).
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
    if family not in (None, LITERT_XNNPACK, LITERT_BUILTIN):
        raise ValueError(f"kernel family {family!r} cannot run a TFLite model")
    return _tflite_outputs(model, checked, sig, family or LITERT_XNNPACK)
