"""LiteRT (TensorFlow Lite) adapter.

Imports ``ai_edge_litert`` and falls back to ``tflite_runtime`` for old images that pin
numpy<2. XNNPACK is LiteRT's default CPU delegate: provider "xnnpack" keeps it, "none" runs
the builtin kernels only, so both can be compared on the same board.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import RuntimeConfig
from rigbench.agent.runtimes.base import (
    LoadedModel,
    LoadInfo,
    RuntimeAdapter,
    RuntimeDescription,
    TensorSpec,
)
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor
from rigbench.errors import ModelLoadError, ProviderUnavailableError, RuntimeUnavailableError
from rigbench.quantization import dequantize, quantize

DELEGATES = ("xnnpack", "none")
DEFAULT_DELEGATE = "xnnpack"

DESCRIPTOR = RuntimeDescriptor(
    name="litert",
    summary="LiteRT (TensorFlow Lite) with XNNPACK or the builtin kernels",
    formats=("tflite",),
    extra="litert",
    adapter="LiteRTAdapter",
    providers=DELEGATES,
    provider_word="delegate",
    default_provider=DEFAULT_DELEGATE,
    canary_variant="tflite-fp32",
    profile_units="not available (LiteRT's Python API has no operator profiler)",
)


def delegate_of(config: RuntimeConfig) -> str:
    """The delegate a job runs with: its first provider, else LiteRT's default (XNNPACK)."""
    return (config.providers[0] if config.providers else DEFAULT_DELEGATE).lower()


def _interpreter_module() -> tuple[Any, str, str]:
    """(interpreter module, python module name, version)."""
    try:
        from ai_edge_litert import interpreter

        try:
            from importlib.metadata import version

            ver = version("ai-edge-litert")
        except Exception:
            ver = "unknown"
        return interpreter, "ai_edge_litert", ver
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as tfl_interpreter

        return tfl_interpreter, "tflite_runtime", getattr(tflite_runtime, "__version__", "unknown")
    except ImportError as e:
        raise RuntimeUnavailableError(
            "LiteRT is not installed on this device; install rigbench[litert] "
            "(or tflite-runtime on images that pin numpy<2)"
        ) from e


class LiteRTModel(LoadedModel):
    def __init__(self, interp: Any, info: LoadInfo) -> None:
        self.interp = interp
        self.info = info
        self._in = interp.get_input_details()
        self._out = interp.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs = [_spec(d) for d in self._out]
        self._resized: dict[int, tuple[int, ...]] = {}

    def _set_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        resized = False
        for d in self._in:
            arr = feeds[_name(d)]
            if tuple(d["shape"]) != arr.shape and self._resized.get(d["index"]) != arr.shape:
                self.interp.resize_tensor_input(d["index"], list(arr.shape), strict=False)
                self._resized[d["index"]] = arr.shape
                resized = True
        if resized:
            self.interp.allocate_tensors()
        for d in self._in:
            self.interp.set_tensor(d["index"], np.ascontiguousarray(feeds[_name(d)]))

    def prepare(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        self._set_inputs(feeds)
        invoke: Callable[[], Any] = self.interp.invoke
        return invoke

    def run_float(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cast = {}
        for spec in self.inputs:
            arr = feeds[spec.name]
            cast[spec.name] = quantize(arr, spec) if spec.is_quantized else arr.astype(spec.dtype)
        self._set_inputs(cast)
        if hasattr(self.interp, "reset_all_variables"):
            self.interp.reset_all_variables()  # stateful models: each sample starts fresh
        self.interp.invoke()
        out = {}
        for d, spec in zip(self._out, self.outputs):
            arr = self.interp.get_tensor(d["index"])
            out[spec.name] = dequantize(arr, spec) if spec.is_quantized else arr.astype(np.float32)
        return out


def _name(d: dict[str, Any]) -> str:
    return str(d["name"])


def _spec(d: dict[str, Any]) -> TensorSpec:
    sig = d.get("shape_signature")
    shape_src = sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"]
    shape = tuple(int(s) if int(s) >= 0 else None for s in shape_src)
    scale, zero = d.get("quantization", (0.0, 0))
    quant = (float(scale), int(zero)) if scale else None
    return TensorSpec(
        name=_name(d), dtype=np.dtype(d["dtype"]).name, shape=shape, quantization=quant
    )


class LiteRTAdapter(RuntimeAdapter):
    name = DESCRIPTOR.name
    formats = DESCRIPTOR.formats

    @classmethod
    def describe(cls) -> RuntimeDescription | None:
        try:
            _, module, version = _interpreter_module()
        except RuntimeUnavailableError:
            return None
        return RuntimeDescription(
            name=cls.name, version=version, providers=DELEGATES, module=module
        )

    def load(self, path: Path, config: RuntimeConfig, work_dir: Path) -> LoadedModel:
        interpreter, _module, _ = _interpreter_module()
        delegate = delegate_of(config)
        if delegate not in DELEGATES:
            raise ProviderUnavailableError(
                f"LiteRT delegate {delegate!r} is not supported here; use one of "
                f"{', '.join(DELEGATES)}"
            )
        resolver = interpreter.OpResolverType
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "experimental_op_resolver_type": (
                resolver.AUTO
                if delegate == "xnnpack"
                else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        }
        if config.intra_op_threads:
            kwargs["num_threads"] = config.intra_op_threads
        try:
            interp = interpreter.Interpreter(**kwargs)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelLoadError(f"LiteRT could not load the model: {str(e).strip()[:300]}") from e
        return LiteRTModel(interp, LoadInfo(providers_used=[delegate]))
