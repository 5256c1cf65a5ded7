"""A plan: which models (and variants) to measure, on which runtimes and devices, and how."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rigbench import limits
from rigbench.agent.jobs import (
    LoadConfig,
    MeasurementConfig,
    RuntimeConfig,
    SoakConfig,
    TelemetryConfig,
)
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor
from rigbench.controller.bounded import (
    STRICT,
    AccuracySamples,
    Batch,
    Concurrency,
    DurationS,
    InputDim,
    Iterations,
    LatencyBoundMs,
    Qps,
    Retries,
    Seed,
    Slowdown,
    Threads,
)
from rigbench.controller.yamlfile import load_model
from rigbench.errors import PlanError, RigbenchError


class _Strict(BaseModel):
    model_config = STRICT


class InputSpec(_Strict):
    shape: list[InputDim] | None = Field(default=None, max_length=limits.TENSOR_RANK)
    value: float | None = None
    dtype: str | None = None
    # Generated values are drawn from [low, high] (inclusive for integers): token ids of a
    # vocabulary, pixel values. Default: integers 0..9, standard-normal floats.
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> InputSpec:
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range [{self.range[0]:g}, {self.range[1]:g}]: low is above high")
        if self.range is not None and self.value is not None:
            raise ValueError("give value (a constant) or range (drawn values), not both")
        return self


class Generate(_Strict):
    """A model made by rigbench's own generator: no download needed."""

    size: Literal["micro", "tiny", "small"] = "small"
    seed: Seed = 0
    slowdown: Slowdown = Field(default=0, ge=0)
    # A symbolic batch dimension, so offline scenarios can sweep `batch`; single-stream then
    # needs the input's shape (inputs: {input: {shape: [1, 3, H, W]}}).
    dynamic_batch: bool = False


class Tolerance(_Strict):
    """Bounds every output (or one output) must meet; docs/accuracy.md explains each figure."""

    max_abs_err: float | None = None
    mean_abs_err: float | None = None
    max_rel_err: float | None = Field(default=None, ge=0)  # max abs err / reference range
    snr_db_min: float | None = None
    cosine_min: float | None = Field(default=None, ge=-1, le=1)
    top1_min: float | None = Field(default=None, ge=0, le=1)  # class-score outputs only
    top5_min: float | None = Field(default=None, ge=0, le=1)

    def bounds(self) -> dict[str, float]:
        """The bounds given, by plan key."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class OutputSpec(_Strict):
    """What one output holds, and bounds for it alone (they replace the model's for it)."""

    kind: Literal["class_scores", "other"] | None = None
    tolerance: Tolerance | None = None


class Accuracy(_Strict):
    samples: AccuracySamples = Field(default=8, ge=0)  # reference inputs; 0 turns it off
    seed: Seed = 1234
    npz: Path | None = None
    tolerance: Tolerance | None = None
    outputs: dict[str, OutputSpec] = {}


class Preprocess(_Strict):
    """How an image becomes an input tensor (docs/accuracy.md, "Datasets")."""

    resize: tuple[InputDim, InputDim] | None = None  # [height, width]; default: the input's size
    layout: Literal["nhwc", "nchw", "hwc", "chw"] | None = None  # default: from the input shape
    color: Literal["rgb", "bgr", "gray"] = "rgb"
    scale: float = 1.0  # pixel values 0..255 times this, then (x - mean) / std
    mean: list[float] = [0.0]
    std: list[float] = [1.0]
    dtype: str | None = None  # default: the input's own dtype


class Dataset(_Strict):
    """Real inputs for a model: a folder of .npy/.npz files or images, with optional labels."""

    path: Path
    input: str | None = None  # which input images / .npy files feed (default: the only one)
    preprocess: Preprocess = Preprocess()
    labels: Path | None = None  # one label per line, in sorted file-name order; or name,label
    metric: str | None = None  # module:function scoring outputs against labels (non-classifiers)
    limit: int | None = Field(default=None, ge=1)  # use the first N samples


class ModelEntry(_Strict):
    name: str
    path: Path | None = None  # .onnx or .tflite
    generate: Generate | None = None
    tflite: Path | None = None  # a TFLite form of the same network, registered as tflite-fp32
    task: Literal["classification", "detection", "segmentation", "embedding", "other"] | None = None
    inputs: dict[str, InputSpec] = {}
    inputs_npz: Path | None = None
    dataset: Dataset | None = None
    variants: list[str | dict[str, object]] = []
    accuracy: Accuracy = Accuracy()

    @model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        if (self.path is None) == (self.generate is None):
            raise ValueError(
                "give exactly one of path (a model file) or generate (the built-in CNN)"
            )
        return self


class RuntimeEntry(_Strict):
    name: str
    runtime: str  # a registered runtime (agent/runtimes: its descriptor)
    providers: list[str] = []
    allow_cpu_fallback: bool = False
    threads: Threads = Field(default=0, ge=0)
    inter_op_threads: Threads = Field(default=0, ge=0)
    graph_optimization: Literal["", "disable", "basic", "extended", "layout", "all"] = ""
    options: dict[str, str] = {}
    # A short per-operator profiling pass after the timed loop (`rigbench ops JOB` shows it).
    profile: bool = False

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, v: str) -> str:
        from rigbench.agent.runtimes import descriptor

        try:
            descriptor(v)
        except RigbenchError as e:
            raise PydanticCustomError("unknown_runtime", str(e)) from None
        return v

    @model_validator(mode="after")
    def _known_options(self) -> RuntimeEntry:
        problems = self.descriptor.check_options(self.options)
        if problems:
            raise PydanticCustomError("runtime_options", "; ".join(problems))
        return self

    @property
    def descriptor(self) -> RuntimeDescriptor:
        from rigbench.agent.runtimes import descriptor

        return descriptor(self.runtime)

    def config(self) -> RuntimeConfig:
        return RuntimeConfig(
            runtime=self.runtime,
            providers=tuple(self.providers),
            allow_cpu_fallback=self.allow_cpu_fallback,
            intra_op_threads=self.threads,
            inter_op_threads=self.inter_op_threads,
            graph_optimization=self.graph_optimization,
            options=dict(self.options),
            profile=self.profile,
        )

    @property
    def formats(self) -> tuple[str, ...]:
        return self.descriptor.formats


class Measurement(_Strict):
    warmup_iterations: Iterations = Field(default=10, ge=0)
    warmup_s: DurationS = Field(default=0.0, ge=0)
    min_iterations: Iterations = Field(default=50, ge=1)
    max_iterations: Iterations = Field(default=100_000, ge=1)
    min_duration_s: DurationS = Field(default=1.0, ge=0)
    max_duration_s: DurationS = Field(default=60.0, gt=0)
    ci_target_rel_width: float = Field(default=0.0, ge=0)
    ci_confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: Seed = 0
    # Time a different prepared input each iteration (the reference/dataset samples, prepared
    # before timing), so input-dependent latency shows; default: one fixed input.
    rotate_inputs: bool = False
    ci_min_duration_s: float = Field(default=2.0, ge=0)

    def config(self) -> MeasurementConfig:
        return MeasurementConfig(**self.model_dump())


class Telemetry(_Strict):
    enabled: bool = True
    rate_hz: float = Field(default=10.0, gt=0, le=limits.TELEMETRY_RATE_HZ.maximum)
    idle_baseline_s: DurationS = Field(default=0.0, ge=0)

    def config(self) -> TelemetryConfig:
        return TelemetryConfig(**self.model_dump())


def _one_or_many(v: object) -> object:
    return v if isinstance(v, list) or v is None else [v]


_ONE_OR_MANY = BeforeValidator(_one_or_many)


class Scenario(_Strict):
    """How a job loads the device (docs/ranking.md, "Scenarios").

    single-stream: one request at a time. soak: single-stream for ``duration_s``, per window.
    offline: requests queued back to back, swept over ``concurrency`` x ``batch`` x
    ``threads``. server: Poisson arrivals at ``qps`` (``auto``: the peak that keeps the
    ``percentile`` within ``latency_ms``), served by ``concurrency`` executors.
    """

    name: str = "single-stream"
    kind: Literal["single-stream", "soak", "offline", "server"] = "single-stream"
    # soak: how long; offline/server: each load point (default: measurement.min_duration_s)
    duration_s: DurationS = Field(default=0.0, ge=0)
    window_s: DurationS = Field(default=10.0, gt=0)
    # One value or a list (offline sweeps every combination).
    concurrency: Annotated[list[Concurrency], _ONE_OR_MANY] | None = None
    batch: Annotated[list[Batch], _ONE_OR_MANY] | None = None
    # intra-op threads of all executors together, split evenly between them
    threads: Annotated[list[Threads], _ONE_OR_MANY] | None = None
    qps: Qps | None = None  # the plan's ``auto`` is stored as 0: search for the peak
    latency_ms: LatencyBoundMs | None = Field(default=None, gt=0)
    percentile: float = Field(default=99.0, gt=0, lt=100)

    @field_validator("qps", mode="before")
    @classmethod
    def _auto(cls, v: object) -> object:
        if isinstance(v, str):
            if v.strip().lower() == "auto":
                return 0.0
            try:
                v = float(v)  # YAML 1.1 reads 2e3 as a string
            except ValueError:
                raise PydanticCustomError(
                    "qps", "give a rate in requests per second, or auto to find the peak"
                ) from None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
            raise PydanticCustomError("qps", "qps must be positive (or auto)")
        return v

    @field_serializer("qps", when_used="json")
    def _auto_out(self, v: float | None) -> float | str | None:
        return "auto" if v == 0.0 else v  # as written, so a stored plan reads back

    @property
    def qps_auto(self) -> bool:
        return self.qps == 0.0

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Scenario:
        # A field at its default changes nothing: a plan the store kept (``run --resume``)
        # holds every field written out, defaults included, and must read back.
        given = {
            f
            for f in self.model_fields_set
            if getattr(self, f) != type(self).model_fields[f].get_default(call_default_factory=True)
        }
        own = {
            "single-stream": set(),
            "soak": {"duration_s", "window_s"},
            "offline": {"duration_s", "concurrency", "batch", "threads"},
            "server": {"duration_s", "concurrency", "threads", "qps", "latency_ms", "percentile"},
        }[self.kind]
        foreign = sorted(given - own - {"name", "kind"})
        if foreign:
            raise ValueError(
                f"{_a(self.kind)} scenario takes no {', '.join(foreign)}"
                + (f" (it takes: {', '.join(sorted(own))})" if own else "")
            )
        if self.kind == "server":
            for name in ("concurrency", "threads"):
                value = getattr(self, name)
                if value is not None and len(value) != 1:
                    raise ValueError(
                        f"a server scenario takes one {name} value (the peak search runs for "
                        "each job): give one scenario per value to compare them"
                    )
            if self.qps is None:
                raise ValueError("a server scenario needs qps: a rate, or auto to find the peak")
            if self.qps_auto and self.latency_ms is None:
                raise ValueError(
                    "qps: auto searches for the peak rate that meets a bound: give latency_ms"
                )
        for name in ("concurrency", "batch", "threads"):
            value = getattr(self, name)
            if value is not None:
                if not value:
                    raise ValueError(f"{name}: give at least one value")
                if len(value) > limits.SWEEP_VALUES:
                    raise ValueError(
                        f"{name}: {len(value)} values, above the limit of {limits.SWEEP_VALUES} "
                        "(each value is a load point)"
                    )
                if len(set(value)) != len(value):
                    raise ValueError(f"{name}: a value is given twice")
        if self.threads is not None and 0 in self.threads:
            raise ValueError("threads: give at least 1 (leave it out for the runtime's threads)")
        return self

    def soak(self) -> SoakConfig:
        return SoakConfig(self.duration_s, self.window_s) if self.kind == "soak" else SoakConfig()

    def load(self) -> LoadConfig:
        if self.kind not in ("offline", "server"):
            return LoadConfig()
        return LoadConfig(
            kind=self.kind,
            concurrency=tuple(self.concurrency or (1,)),
            batch=tuple(self.batch or ()),
            threads=tuple(self.threads or ()),
            qps=self.qps or 0.0,
            latency_ms=self.latency_ms or 0.0,
            percentile=self.percentile,
            duration_s=self.duration_s,
        )


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


class DeviceSelector(_Strict):
    names: list[str] = []
    tags: list[str] = []
    classes: list[str] = []


class Plan(_Strict):
    name: str
    models: list[ModelEntry] = Field(min_length=1)
    runtimes: list[RuntimeEntry] = Field(min_length=1)
    measurement: Measurement = Measurement()
    telemetry: Telemetry = Telemetry()
    scenarios: list[Scenario] = [Scenario()]
    devices: DeviceSelector = DeviceSelector()
    retries: Retries = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _unique_names(self) -> Plan:
        for what, names in (
            ("model", [m.name for m in self.models]),
            ("runtime", [r.name for r in self.runtimes]),
            ("scenario", [s.name for s in self.scenarios]),
        ):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{what} name(s) used twice: {', '.join(sorted(dup))}")
        return self

    def digest(self) -> str:
        return hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()


def load_plan(path: Path) -> Plan:
    """Load a plan; relative model paths are resolved against the plan's folder."""
    plan = load_model(Plan, path, PlanError)
    base = path.resolve().parent
    for m in plan.models:
        for attr in ("path", "tflite", "inputs_npz"):
            p = getattr(m, attr)
            if p is not None and not p.is_absolute():
                setattr(m, attr, base / p)
        if m.accuracy.npz is not None and not m.accuracy.npz.is_absolute():
            m.accuracy.npz = base / m.accuracy.npz
        if m.dataset is not None:
            for attr in ("path", "labels"):
                p = getattr(m.dataset, attr)
                if p is not None and not p.is_absolute():
                    setattr(m.dataset, attr, base / p)
            metric = m.dataset.metric
            if metric and metric.partition(":")[0].endswith(".py"):
                file, _, fn = metric.partition(":")
                if not Path(file).is_absolute():
                    m.dataset.metric = f"{base / file}:{fn}"
    return plan
