"""ONNX Runtime adapter.

Providers are chosen per job and the provider that actually runs is reported: ORT silently
falls back to CPU when a provider fails to initialise, so we check ``get_providers()`` and
refuse the fallback unless the job allows it. Device-side compilation (the graph optimized for
this device's provider, or a TensorRT engine cache) is built once, cached by (artifact,
provider, options), and its build time is reported as compile time apart from load time.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import RuntimeConfig
from rigbench.agent.profiling import (
    NOT_AVAILABLE,
    OpProfile,
    load_ort_profile,
    parse_ort_profile,
)
from rigbench.agent.runtimes.base import (
    LoadedModel,
    LoadInfo,
    RuntimeAdapter,
    RuntimeDescription,
    TensorSpec,
)
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor, TuneKnob
from rigbench.digest import sha256_file
from rigbench.errors import (
    ModelLoadError,
    ProviderUnavailableError,
    RuntimeAdapterError,
    RuntimeUnavailableError,
)
from rigbench.failures import trim_message

_OPT_LEVELS = ("disable", "basic", "extended", "layout", "all")
_SHORT_PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "qnn": "QNNExecutionProvider",
}

DESCRIPTOR = RuntimeDescriptor(
    name="onnxruntime",
    summary="ONNX Runtime with any of its execution providers",
    formats=("onnx",),
    extra="onnxruntime",
    adapter="OnnxRuntimeAdapter",
    providers=("cpu", "cuda", "tensorrt", "openvino", "coreml", "dml", "xnnpack", "qnn"),
    provider_word="execution provider",
    default_provider="cpu",
    canary_variant="fp32",
    open_options=True,  # passed to the first provider as its provider options
    profile_units="the execution provider of each node (enable_profiling)",
    tune=(
        TuneKnob(
            "graph_optimization",
            ("basic", "extended", "all"),
            "the session's graph optimisation level",
            _OPT_LEVELS,
        ),
    ),
    provider_aliases=tuple(_SHORT_PROVIDER.items()),
)

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(bool)": "bool",
}



# Providers that compile the nodes they take into kernels of their own (a TensorRT engine, an
# OpenVINO or QNN graph): ORT refuses to save an optimized model holding such nodes ("Unable
# to serialize model as it contains compiled nodes", onnxruntime PR #5840), so their
# device-side compile is the provider's own cache (TensorRT's engine cache), not a saved graph.
COMPILING_PROVIDERS = frozenset(
    {
        "TensorrtExecutionProvider",
        "NvTensorRTRTXExecutionProvider",
        "OpenVINOExecutionProvider",
        "QNNExecutionProvider",
        "CoreMLExecutionProvider",
        "MIGraphXExecutionProvider",
        "VitisAIExecutionProvider",
    }
)


def compiles_nodes(providers: list[str]) -> bool:
    """Whether any of these providers compiles nodes (then no optimized model is saved)."""
    return any(p in COMPILING_PROVIDERS for p in providers)


def options_per_provider(
    providers: list[str], asked: str, options: dict[str, str], work_dir: Path
) -> list[dict[str, str]]:
    """Each provider's options: the runtime entry's ``options`` go to the provider the job asked
    for first, and to no other (ORT refuses a provider option it does not know, so TensorRT's
    ``trt_fp16_enable`` given to CUDA too would fail the load; after a fallback the remaining
    providers get none). TensorRT engines are cached on the agent unless told otherwise.
    """
    out = []
    for provider in providers:
        opts = dict(options) if provider == asked else {}
        if provider == "TensorrtExecutionProvider":
            # The TensorRT engine is the device-side compiled form: cache it on the agent.
            cache = work_dir / "trt-engines"
            cache.mkdir(parents=True, exist_ok=True)
            opts.setdefault("trt_engine_cache_enable", "True")
            opts.setdefault("trt_engine_cache_path", str(cache))
        out.append(opts if provider != "CPUExecutionProvider" else {})
    return out


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as e:
        raise RuntimeUnavailableError(
            "onnxruntime is not installed on this device; install rigbench[onnxruntime]"
        ) from e
    return onnxruntime


def provider_name(name: str) -> str:
    """Accept 'cuda' or 'CUDAExecutionProvider' alike."""
    return _SHORT_PROVIDER.get(name.lower(), name)


class OnnxRuntimeModel(LoadedModel):
    def __init__(
        self,
        session: Any,
        info: LoadInfo,
        profiled: Callable[[Path], Any] | None = None,
        requested_unit: str = "",
    ) -> None:
        self.session = session
        self.info = info
        self.requested_unit = requested_unit  # the provider the job asked for first
        self._profiled = profiled  # makes a second session, with the profiler on
        self.inputs = [_spec(i) for i in session.get_inputs()]
        self.outputs = [_spec(o) for o in session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]

    def prepare(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        run, names = self.session.run, self._output_names

        def call() -> Any:
            return run(names, feeds)

        return call

    def run_float(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cast = {}
        for spec in self.inputs:
            arr = feeds[spec.name]
            cast[spec.name] = arr.astype(spec.dtype) if arr.dtype != np.dtype(spec.dtype) else arr
        outs = self.session.run(self._output_names, cast)
        return {n: np.asarray(o).astype(np.float32) for n, o in zip(self._output_names, outs)}

    def profile(self, feeds: dict[str, np.ndarray], iterations: int) -> OpProfile:
        """Per-node time and provider from ORT's profiler, on a second session."""
        requested = self.requested_unit
        if self._profiled is None:
            return OpProfile(requested, note=f"{NOT_AVAILABLE}: no profiling session")
        t0 = time.perf_counter_ns()
        names = self._output_names
        with tempfile.TemporaryDirectory(prefix="rigbench-ort-profile-") as tmp:
            session = self._profiled(Path(tmp) / "ort")
            for _ in range(iterations + 1):  # the first run is a warm-up, dropped below
                session.run(names, feeds)
            text = Path(session.end_profiling()).read_text()
        return OpProfile(
            requested_unit=requested,
            iterations=iterations,
            wall_ns=time.perf_counter_ns() - t0,
            rows=parse_ort_profile(load_ort_profile(text), skip_runs=1),
        )


def _spec(node: Any) -> TensorSpec:
    dtype = _ORT_DTYPES.get(node.type)
    if dtype is None:
        raise RuntimeAdapterError(f"tensor {node.name!r} has unsupported type {node.type}")
    shape = tuple(
        d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None)
        for d in node.shape
    )
    return TensorSpec(name=node.name, dtype=dtype, shape=shape)


class OnnxRuntimeAdapter(RuntimeAdapter):
    name = DESCRIPTOR.name
    formats = DESCRIPTOR.formats

    @classmethod
    def describe(cls) -> RuntimeDescription | None:
        try:
            ort = _ort()
        except RuntimeUnavailableError:
            return None
        return RuntimeDescription(
            name=cls.name,
            version=ort.__version__,
            providers=tuple(ort.get_available_providers()),
            module="onnxruntime",
        )

    def run_errors(self) -> tuple[type[BaseException], ...]:
        # onnxruntime's C++ status codes arrive as classes of its pybind module (Fail,
        # InvalidArgument, RuntimeException, ...), none a subclass of RuntimeError; its Python
        # layer raises ValueError for a missing input.
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        native = tuple(
            v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)
        )
        return (*native, RuntimeError, ValueError)

    def load(self, path: Path, config: RuntimeConfig, work_dir: Path) -> LoadedModel:
        ort = _ort()
        available = ort.get_available_providers()
        requested = [provider_name(p) for p in config.providers] or ["CPUExecutionProvider"]
        asked = requested[0]  # what placement is judged against, even after a fallback
        missing = [p for p in requested if p not in available]
        warnings: list[str] = []
        if missing:
            if not config.allow_cpu_fallback:
                raise ProviderUnavailableError(
                    f"execution provider(s) {', '.join(missing)} not available on this device "
                    f"(available: {', '.join(available)}); allow CPU fallback in the runtime "
                    "config to run on CPU instead"
                )
            warnings.append(f"{', '.join(missing)} not available; fell back to CPU")
            requested = [p for p in requested if p in available] or ["CPUExecutionProvider"]
        level = (config.graph_optimization or "all").lower()
        if level not in _OPT_LEVELS:
            raise RuntimeAdapterError(
                f"unknown graph optimization {level!r}; use one of {', '.join(_OPT_LEVELS)}"
            )
        provider_options = options_per_provider(requested, asked, dict(config.options), work_dir)

        compile_ns, cache_hit, model_path = 0, False, path
        if level != "disable" and not compiles_nodes(requested):
            model_path, compile_ns, cache_hit = self._device_compile(
                ort, path, requested, provider_options, level, config, work_dir, warnings
            )
        so = self._session_options(ort, config, "disable" if model_path != path else level)
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=so, providers=list(zip(requested, provider_options))
            )
        except Exception as e:  # onnxruntime raises its own exception types from C++
            raise ModelLoadError(
                f"onnxruntime could not load the model: {trim_message(str(e))}"
            ) from e
        plain_level = "disable" if model_path != path else level

        def profiled(prefix: Path) -> Any:
            so = self._session_options(ort, config, plain_level)
            so.enable_profiling = True
            so.profile_file_prefix = str(prefix)
            return ort.InferenceSession(
                str(model_path), sess_options=so, providers=list(zip(requested, provider_options))
            )

        used = session.get_providers()
        if requested[0] not in used:
            if not config.allow_cpu_fallback:
                raise ProviderUnavailableError(
                    f"{requested[0]} failed to initialise (session uses {', '.join(used)}); "
                    "allow CPU fallback to run anyway"
                )
            warnings.append(f"{requested[0]} failed to initialise; ran on {used[0]}")
        info = LoadInfo(
            providers_used=list(used),
            compile_ns=compile_ns,
            compile_cache_hit=cache_hit,
            warnings=warnings,
        )
        return OnnxRuntimeModel(session, info, profiled, asked)

    @staticmethod
    def _session_options(ort: Any, config: RuntimeConfig, level: str) -> Any:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if config.intra_op_threads:
            so.intra_op_num_threads = config.intra_op_threads
        if config.inter_op_threads:
            so.inter_op_num_threads = config.inter_op_threads
        gol = ort.GraphOptimizationLevel
        so.graph_optimization_level = {
            "disable": gol.ORT_DISABLE_ALL,
            "basic": gol.ORT_ENABLE_BASIC,
            "extended": gol.ORT_ENABLE_EXTENDED,
            "layout": getattr(gol, "ORT_ENABLE_LAYOUT", gol.ORT_ENABLE_ALL),
            "all": gol.ORT_ENABLE_ALL,
        }[level]
        return so

    def _device_compile(
        self,
        ort: Any,
        path: Path,
        providers: list[str],
        provider_options: list[dict[str, str]],
        level: str,
        config: RuntimeConfig,
        work_dir: Path,
        warnings: list[str],
    ) -> tuple[Path, int, bool]:
        """Optimize the graph for this device once; later loads reuse the cached result."""
        key_src = json.dumps(
            {
                "model": sha256_file(path),
                "providers": providers,
                "options": provider_options,
                "level": level,
                "ort": ort.__version__,
            },
            sort_keys=True,
        )
        key = hashlib.sha256(key_src.encode()).hexdigest()[:32]
        out = work_dir / "ort-optimized" / f"{key}.onnx"
        if out.exists():
            return out, 0, True
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.onnx")
        so = self._session_options(ort, config, level)
        so.optimized_model_filepath = str(tmp)
        t0 = time.perf_counter_ns()
        try:
            ort.InferenceSession(
                str(path), sess_options=so, providers=list(zip(providers, provider_options))
            )
        except Exception as e:
            tmp.unlink(missing_ok=True)
            # The model, or writing its optimized copy (a full disk)? Load it once more without
            # writing anything: only a model that fails that too is the model's fault.
            try:
                ort.InferenceSession(
                    str(path),
                    sess_options=self._session_options(ort, config, level),
                    providers=list(zip(providers, provider_options)),
                )
            except Exception:
                raise ModelLoadError(
                    f"onnxruntime could not load the model: {trim_message(str(e))}"
                ) from e
            warnings.append(
                f"the optimized model could not be cached ({trim_message(str(e))}); "
                "optimized in memory instead"
            )
            return path, 0, False
        compile_ns = time.perf_counter_ns() - t0
        if not tmp.exists():
            warnings.append("onnxruntime did not write an optimized model; loaded the original")
            return path, 0, False
        tmp.replace(out)
        return out, compile_ns, False
