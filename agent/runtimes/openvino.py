"""OpenVINO adapter: ONNX read directly, or OpenVINO IR (an .xml graph beside its .bin weights).

The device is the job's first provider (CPU, GPU, NPU, AUTO, or OpenVINO's own forms such as
``GPU.1`` or ``HETERO:GPU,CPU``; default CPU), and the devices that really execute it are
reported (``EXECUTION_DEVICES``), like ORT's provider actually used: AUTO says where it went.
OpenVINO picks an inference precision per device unless told (bf16 on CPUs with AMX or
AVX512-BF16), so the precision it used is reported too. Compiled blobs are cached on the agent
(``CACHE_DIR``), and the compile time is reported apart from load time.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import RuntimeConfig
from rigbench.agent.profiling import OpProfile, ov_counter_rows
from rigbench.agent.runtimes.base import (
    LoadedModel,
    LoadInfo,
    RuntimeAdapter,
    RuntimeDescription,
    TensorSpec,
)
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor, RuntimeOption, TuneKnob
from rigbench.errors import (
    ModelLoadError,
    ProviderUnavailableError,
    RuntimeAdapterError,
    RuntimeUnavailableError,
)

DEVICES = ("CPU", "GPU", "NPU", "AUTO")
HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
PRECISIONS = ("f32", "f16", "bf16")

DESCRIPTOR = RuntimeDescriptor(
    name="openvino",
    summary="Intel OpenVINO on CPU, Intel GPU or NPU: OpenVINO IR, or ONNX read directly",
    formats=("openvino-ir", "onnx"),
    extra="openvino",
    adapter="OpenVINOAdapter",
    providers=DEVICES,
    provider_word="device",
    default_provider="CPU",
    canary_variant="fp32",
    options=(
        RuntimeOption("streams", "NUM_STREAMS: inference streams (the hint decides by default)"),
        RuntimeOption("performance_hint", "PERFORMANCE_HINT (default LATENCY)", HINTS),
        RuntimeOption(
            "inference_precision",
            "INFERENCE_PRECISION_HINT (default: the device's; bf16 on CPUs with AMX)",
            PRECISIONS,
        ),
        RuntimeOption("cache", "compiled-blob cache on the agent: true (default) | false"),
    ),
    install_by_default=False,  # ~60 MB: boards get it when the inventory asks for it
    profile_units="the device and the kernel each node ran with (performance counters)",
    tune=(
        TuneKnob(
            "performance_hint",
            ("LATENCY", "THROUGHPUT"),
            "PERFORMANCE_HINT: one stream for latency, or the streams the device sustains",
            HINTS,
        ),
    ),
)

_OV_DTYPES = {
    "f32": "float32",
    "f16": "float16",
    "f64": "float64",
    "i64": "int64",
    "i32": "int32",
    "i16": "int16",
    "i8": "int8",
    "u8": "uint8",
    "u16": "uint16",
    "boolean": "bool",
}


def import_openvino() -> Any:
    """``import openvino`` without its usage telemetry; None when it is not installed.

    ``import openvino`` imports its converter, which sends a usage event to Google Analytics
    and writes a client id under ``~/intel`` unless the user has opted out (a file written by
    ``opt_in_out --opt_out``), and NNCF does the same. A benchmark harness on lab hardware
    must send nothing anywhere, so the first import of the process is done as OpenVINO's own
    telemetry treats a CI job: declined, nothing written, nothing sent, for the whole process
    (its telemetry object is a process-wide singleton). NNCF is told likewise (``NNCF_CI``).
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    os.environ.setdefault("NNCF_CI", "1")
    saved = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import openvino
    except ImportError:
        return None
    finally:
        if saved is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = saved
    return openvino


def _ov() -> Any:
    ov = import_openvino()
    if ov is None:
        raise RuntimeUnavailableError(
            'OpenVINO is not installed on this device; install "rigbench[openvino]"'
        )
    return ov


def device_of(config: RuntimeConfig) -> str:
    """The device a job asks for: its first provider, upper-cased; default CPU."""
    return (config.providers[0] if config.providers else DESCRIPTOR.default_provider).upper()


def compile_config(config: RuntimeConfig) -> dict[str, Any]:
    """OpenVINO properties for the job's threads and options."""
    opts = config.options
    props: dict[str, Any] = {
        "PERFORMANCE_HINT": opts.get("performance_hint", "LATENCY").upper(),
    }
    if config.intra_op_threads:
        props["INFERENCE_NUM_THREADS"] = int(config.intra_op_threads)
    if "streams" in opts:
        props["NUM_STREAMS"] = str(opts["streams"]).upper()
    if "inference_precision" in opts:
        props["INFERENCE_PRECISION_HINT"] = opts["inference_precision"].lower()
    return props


class OpenVINOModel(LoadedModel):
    def __init__(
        self,
        compiled: Any,
        info: LoadInfo,
        recompile: Callable[[dict[str, Any]], Any],
        requested_unit: str,
    ) -> None:
        self.compiled = compiled
        self.info = info
        self.requested_unit = requested_unit  # the device the job asked for
        self._recompile = recompile
        self.request = compiled.create_infer_request()
        self.inputs = [_spec(p, i, "input") for i, p in enumerate(compiled.inputs)]
        self.outputs = [_spec(p, i, "output") for i, p in enumerate(compiled.outputs)]

    def _bind(self, request: Any, feeds: dict[str, np.ndarray]) -> None:
        ov = _ov()
        for i, spec in enumerate(self.inputs):
            arr = np.ascontiguousarray(feeds[spec.name])
            request.set_input_tensor(i, ov.Tensor(arr))

    def prepare(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        self._bind(self.request, feeds)
        infer: Callable[[], Any] = self.request.infer
        return infer

    def run_float(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._bind(self.request, self.cast_float(feeds))
        self.request.infer()
        return {
            spec.name: np.asarray(self.request.get_output_tensor(i).data).astype(np.float32)
            for i, spec in enumerate(self.outputs)
        }

    def profile(self, feeds: dict[str, np.ndarray], iterations: int) -> OpProfile:
        """Per-node time from OpenVINO's performance counters, on a separately compiled model."""
        t0 = time.perf_counter_ns()
        compiled = self._recompile({"PERF_COUNT": True})
        request = compiled.create_infer_request()
        self._bind(request, feeds)
        request.infer()  # the first run of a fresh compile is a warm-up, not profiled
        devices = list(compiled.get_property("EXECUTION_DEVICES"))
        unit = devices[0] if len(devices) == 1 else "+".join(devices)
        acc = None
        for _ in range(iterations):
            request.infer()
            acc = ov_counter_rows(request.get_profiling_info(), unit, acc)
        return OpProfile(
            requested_unit=self.requested_unit,
            iterations=iterations,
            wall_ns=time.perf_counter_ns() - t0,
            rows=acc.result() if acc else [],
        )


def _spec(port: Any, index: int, kind: str) -> TensorSpec:
    try:
        name = port.get_any_name()
    except RuntimeError:  # an unnamed tensor
        name = f"{kind}{index}"
    et = port.get_element_type().get_type_name()
    dtype = _OV_DTYPES.get(et)
    if dtype is None:
        raise RuntimeAdapterError(f"tensor {name!r} has unsupported element type {et}")
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(name=name, dtype=dtype, shape=shape)


class OpenVINOAdapter(RuntimeAdapter):
    name = DESCRIPTOR.name
    formats = DESCRIPTOR.formats

    @classmethod
    def describe(cls) -> RuntimeDescription | None:
        try:
            ov = _ov()
            devices = tuple(ov.Core().available_devices)
        except (RuntimeUnavailableError, RuntimeError):
            return None
        return RuntimeDescription(
            name=cls.name,
            version=ov.get_version().split("-")[0],
            providers=(*devices, "AUTO"),
            module="openvino",
        )

    def load(self, path: Path, config: RuntimeConfig, work_dir: Path) -> LoadedModel:
        ov = _ov()
        core = ov.Core()
        device = asked = device_of(config)
        warnings: list[str] = []
        available = list(core.available_devices)
        base = device.split(".")[0].split(":")[0]
        if base not in ("AUTO", "HETERO", "MULTI") and not any(
            d == device or d.split(".")[0] == device for d in available
        ):
            if not config.allow_cpu_fallback:
                raise ProviderUnavailableError(
                    f"OpenVINO device {device} is not available on this device (available: "
                    f"{', '.join(available)}); allow CPU fallback in the runtime config to run "
                    "on CPU instead"
                )
            warnings.append(f"OpenVINO device {device} not available; fell back to CPU")
            device = "CPU"
        if config.inter_op_threads or config.graph_optimization:
            warnings.append("inter_op_threads and graph_optimization do not apply to OpenVINO")
        props = compile_config(config)
        if config.options.get("cache", "true").lower() not in ("false", "0", "no"):
            cache = work_dir / "openvino-cache"
            cache.mkdir(parents=True, exist_ok=True)
            props["CACHE_DIR"] = str(cache)
        try:
            model = core.read_model(str(path))
        except RuntimeError as e:
            raise ModelLoadError(f"OpenVINO could not read the model: {_first_line(e)}") from e
        cached_before = _count_files(props.get("CACHE_DIR"))

        def recompile(extra: dict[str, Any]) -> Any:
            # The profiling pass compiles its own model: no blob cache, so PERF_COUNT applies.
            p = {k: v for k, v in props.items() if k != "CACHE_DIR"}
            return core.compile_model(model, device, {**p, **extra})

        t0 = time.perf_counter_ns()
        try:
            compiled = core.compile_model(model, device, props)
        except RuntimeError as e:
            raise ModelLoadError(
                f"OpenVINO could not compile the model for {device}: {_first_line(e)}"
            ) from e
        compile_ns = time.perf_counter_ns() - t0
        cached_after = _count_files(props.get("CACHE_DIR"))
        used = [str(d) for d in compiled.get_property("EXECUTION_DEVICES")]
        precision = _precision(compiled, used)
        if precision and "inference_precision" not in config.options and precision != "f32":
            warnings.append(
                f"OpenVINO ran with inference precision {precision} (the device's default); "
                "set options.inference_precision: f32 for float32 kernels"
            )
        info = LoadInfo(
            providers_used=used,
            compile_ns=compile_ns,
            compile_cache_hit=cached_after > 0 and cached_after == cached_before,
            warnings=warnings,
        )
        return OpenVINOModel(compiled, info, recompile, asked)


def _precision(compiled: Any, used: list[str]) -> str:
    """The inference precision the compiled model uses, where the device says ('' if not)."""
    try:
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    except RuntimeError:  # AUTO and some plugins do not expose it
        return ""
    return str(hint.get_type_name() if hasattr(hint, "get_type_name") else hint).lower()


def _count_files(folder: str | None) -> int:
    if not folder:
        return 0
    return sum(1 for p in Path(folder).iterdir() if p.is_file())


def _first_line(e: Exception) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    # OpenVINO prefixes its messages with "Exception from src/...:NNN:" lines.
    useful = [ln for ln in lines if not ln.startswith("Exception from ")]
    return (useful or lines or [type(e).__name__])[0][:300]
