"""The agent's domain types: what a job asks for and what it produces.

These plain dataclasses are what the agent's code passes around; protobuf messages exist only
at the gRPC edge (``convert.py``). They also serialise to JSON for the worker process.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from rigbench import limits
from rigbench.agent.profiling import OpProfile
from rigbench.errors import JobSpecError
from rigbench.failures import FailureKind


@dataclass(frozen=True)
class InputOverride:
    """A user's say over one model input: its shape, dtype check, or a constant fill value."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    value: float | None = None
    range: tuple[float, float] | None = None  # generated values drawn from [low, high]


@dataclass(frozen=True)
class RuntimeConfig:
    """Which runtime runs the model, and how."""

    runtime: str = "onnxruntime"
    providers: tuple[str, ...] = ()
    allow_cpu_fallback: bool = False
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    graph_optimization: str = ""
    options: dict[str, str] = field(default_factory=dict)
    profile: bool = False  # a per-operator profiling pass after the timed loop


@dataclass(frozen=True)
class MeasurementConfig:
    """Warm-up and stopping rules of the measured loop (docs/design.md, "How a job is measured")."""

    warmup_iterations: int = 10
    warmup_s: float = 0.0
    min_iterations: int = 50
    max_iterations: int = 100_000
    min_duration_s: float = 1.0
    max_duration_s: float = 60.0
    ci_target_rel_width: float = 0.0
    ci_confidence: float = 0.95
    seed: int = 0
    rotate_inputs: bool = False  # time a different prepared input each iteration
    ci_min_duration_s: float = 2.0  # never stop early before this much measuring


@dataclass(frozen=True)
class TelemetryConfig:
    enabled: bool = True
    rate_hz: float = 10.0
    idle_baseline_s: float = 0.0


@dataclass(frozen=True)
class SoakConfig:
    duration_s: float = 0.0
    window_s: float = 10.0

    @property
    def is_soak(self) -> bool:
        return self.duration_s > 0


OFFLINE = "offline"
SERVER = "server"
LOAD_KINDS = (OFFLINE, SERVER)


@dataclass(frozen=True)
class LoadConfig:
    """The offline and server scenarios (``agent/load``); ``kind`` "" is neither.

    ``concurrency``, ``batch`` and ``threads`` are swept (offline: every combination is one
    load point; server: one value each). ``threads`` is the intra-op threads of all executors
    together, split evenly between them (at least one each); () takes the runtime entry's
    ``threads``, else every CPU the worker may use. ``batch`` () sends the inputs as built.
    """

    kind: str = ""
    concurrency: tuple[int, ...] = (1,)
    batch: tuple[int, ...] = ()
    threads: tuple[int, ...] = ()
    qps: float = 0.0  # server: the target rate; 0 = search for the peak (plan: qps: auto)
    latency_ms: float = 0.0  # server: the bound on the percentile; 0 = none
    percentile: float = 99.0
    duration_s: float = 0.0  # each load point; 0 = measurement.min_duration_s

    @property
    def is_load(self) -> bool:
        return self.kind in LOAD_KINDS

    def check(self, job_id: str) -> None:
        """Refuse what no load point can run (the plan refuses it earlier, with the line)."""
        if self.kind not in ("", *LOAD_KINDS):
            raise JobSpecError(f"job {job_id}: unknown load kind {self.kind!r}")
        if not self.is_load:
            return
        lists = (("concurrency", self.concurrency), ("batch", self.batch))
        for name, values in (*lists, ("threads", self.threads)):
            if len(values) > limits.SWEEP_VALUES:
                raise JobSpecError(
                    f"job {job_id}: load.{name} has {len(values)} values, above the limit of "
                    f"{limits.SWEEP_VALUES}"
                )
        if not self.concurrency:
            raise JobSpecError(f"job {job_id}: load.concurrency is empty")
        for name, values, limit in (
            ("concurrency", self.concurrency, limits.CONCURRENCY),
            ("batch", self.batch, limits.BATCH),
            ("threads", self.threads, limits.THREADS.at_least(1)),
        ):
            for v in values:
                limit.check(f"job {job_id}: load.{name}", v, JobSpecError)
        for name, value, bound in (
            ("qps", self.qps, limits.QPS),
            ("latency_ms", self.latency_ms, limits.LATENCY_BOUND_MS),
            ("duration_s", self.duration_s, limits.DURATION_S),
        ):
            bound.check(f"job {job_id}: load.{name}", value, JobSpecError)
        if not 0 < self.percentile < 100:
            raise JobSpecError(
                f"job {job_id}: load.percentile = {self.percentile!r} must be between 0 and 100"
            )
        if self.kind == SERVER:
            if self.batch or len(self.concurrency) != 1 or len(self.threads) > 1:
                raise JobSpecError(
                    f"job {job_id}: a server load takes one concurrency and one threads value, "
                    "and no batch"
                )
            if self.qps <= 0 and self.latency_ms <= 0:
                raise JobSpecError(
                    f"job {job_id}: searching for the peak QPS (qps 0 = auto) needs a latency bound"
                )

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> LoadConfig:
        return cls(
            **{
                **d,
                "concurrency": tuple(d["concurrency"]),
                "batch": tuple(d["batch"]),
                "threads": tuple(d["threads"]),
            }
        )


@dataclass(frozen=True)
class ArtifactFile:
    """A file an artifact needs beside it, by name (OpenVINO IR's .bin next to its .xml)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class JobSpec:
    """One measurement: an artifact on a runtime with inputs and stopping rules."""

    job_id: str
    artifact_sha256: str
    model_format: str
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    inputs: tuple[InputOverride, ...] = ()
    inputs_npz_sha256: str = ""
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    soak: SoakConfig = field(default_factory=SoakConfig)
    reference_inputs_sha256: str = ""
    label: str = ""
    lease_holder: str = ""
    lease_ttl_s: float = 0.0
    load: LoadConfig = field(default_factory=LoadConfig)
    companions: tuple[ArtifactFile, ...] = ()

    @property
    def artifact_digests(self) -> list[str]:
        """Every cached file the job reads: the artifact, its companions, its input files."""
        return [
            d
            for d in (
                self.artifact_sha256,
                *(c.sha256 for c in self.companions),
                self.inputs_npz_sha256,
                self.reference_inputs_sha256,
            )
            if d
        ]

    def to_json_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check_companions(self) -> None:
        """Companion names become file names beside the artifact: plain names only."""
        from rigbench.agent.runtimes.descriptor import MODEL_SUFFIXES

        taken = {f"model{suffix}" for suffix in MODEL_SUFFIXES.values()}  # the artifact's own
        for c in self.companions:
            n = c.name
            plain = n == n.strip() and not any(ch in n for ch in "/\\\0")
            if not n or not plain or n.startswith(".") or n in taken:
                raise JobSpecError(
                    f"job {self.job_id}: companion file name {n[:80]!r} is not a plain file name"
                )

    def check(self) -> JobSpec:
        """Refuse at the edge what no job can run: a missing or malformed digest, a number
        that is not finite or is negative. (Bounds that depend on the device are the
        worker's and the controller's.)
        """
        if not self.artifact_sha256:
            raise JobSpecError(f"job {self.job_id}: no artifact digest (artifact_sha256 is empty)")
        numbers: dict[str, float] = {
            **{f"measurement.{k}": v for k, v in dataclasses.asdict(self.measurement).items()},
            "telemetry.rate_hz": self.telemetry.rate_hz,
            "telemetry.idle_baseline_s": self.telemetry.idle_baseline_s,
            "soak.duration_s": self.soak.duration_s,
            "soak.window_s": self.soak.window_s,
            "lease_ttl_s": self.lease_ttl_s,
            "runtime.intra_op_threads": self.runtime.intra_op_threads,
            "runtime.inter_op_threads": self.runtime.inter_op_threads,
        }
        for name, v in numbers.items():
            if not math.isfinite(v) or v < 0:
                raise JobSpecError(f"job {self.job_id}: {name} = {v!r} must be finite and >= 0")
        if not 0 < self.measurement.ci_confidence < 1:
            raise JobSpecError(
                f"job {self.job_id}: measurement.ci_confidence = "
                f"{self.measurement.ci_confidence!r} must be between 0 and 1"
            )
        for i in self.inputs:
            given = [i.value] if i.value is not None else []
            given += list(i.range) if i.range is not None else []
            if not all(math.isfinite(v) for v in given):
                raise JobSpecError(
                    f"job {self.job_id}: input {i.name!r} value or range {given} is not finite"
                )
        self._check_limits()
        self.check_companions()
        self.load.check(self.job_id)
        per_point = self.load.qps * (self.load.duration_s or self.measurement.min_duration_s)
        if per_point > limits.ITERATIONS.maximum:
            raise JobSpecError(
                f"job {self.job_id}: load.qps x duration = {per_point:.3g} requests per point, "
                f"above the limit of {limits.ITERATIONS.maximum:g} ({limits.ITERATIONS.why})"
            )
        if self.load.is_load and self.soak.is_soak:
            raise JobSpecError(
                f"job {self.job_id}: a job is a soak or a {self.load.kind} load, not both"
            )
        return self

    def _check_limits(self) -> None:
        """Numbers beyond a limit of ``rigbench.limits``: each names the limit and why."""
        m, r = self.measurement, self.runtime
        for name, value, limit in (
            ("measurement.warmup_iterations", m.warmup_iterations, limits.ITERATIONS),
            ("measurement.min_iterations", m.min_iterations, limits.ITERATIONS),
            ("measurement.max_iterations", m.max_iterations, limits.ITERATIONS),
            ("measurement.warmup_s", m.warmup_s, limits.DURATION_S),
            ("measurement.min_duration_s", m.min_duration_s, limits.DURATION_S),
            ("measurement.max_duration_s", m.max_duration_s, limits.DURATION_S),
            ("measurement.seed", m.seed, limits.SEED),
            ("runtime.intra_op_threads", r.intra_op_threads, limits.THREADS),
            ("runtime.inter_op_threads", r.inter_op_threads, limits.THREADS),
            ("telemetry.rate_hz", self.telemetry.rate_hz, limits.TELEMETRY_RATE_HZ),
            ("telemetry.idle_baseline_s", self.telemetry.idle_baseline_s, limits.DURATION_S),
            ("soak.duration_s", self.soak.duration_s, limits.DURATION_S),
            ("soak.window_s", self.soak.window_s, limits.DURATION_S),
        ):  # lease_ttl_s is not refused: the agent caps it (--max-lease-s)
            limit.check(f"job {self.job_id}: {name}", value, JobSpecError)
        for i in self.inputs:
            if i.shape is None:
                continue
            if len(i.shape) > limits.TENSOR_RANK:
                raise JobSpecError(
                    f"job {self.job_id}: input {i.name!r} has rank {len(i.shape)}, above the "
                    f"limit of {limits.TENSOR_RANK}"
                )
            for k, d in enumerate(i.shape):
                limits.INPUT_DIM.check(
                    f"job {self.job_id}: input {i.name!r} dimension {k}", d, JobSpecError
                )

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> JobSpec:
        return cls(
            job_id=d["job_id"],
            artifact_sha256=d["artifact_sha256"],
            model_format=d["model_format"],
            runtime=RuntimeConfig(
                **{**d["runtime"], "providers": tuple(d["runtime"]["providers"])}
            ),
            inputs=tuple(
                InputOverride(
                    name=i["name"],
                    shape=tuple(i["shape"]) if i["shape"] is not None else None,
                    dtype=i["dtype"],
                    value=i["value"],
                    range=tuple(i["range"]) if i.get("range") is not None else None,
                )
                for i in d["inputs"]
            ),
            inputs_npz_sha256=d["inputs_npz_sha256"],
            measurement=MeasurementConfig(**d["measurement"]),
            telemetry=TelemetryConfig(**d["telemetry"]),
            soak=SoakConfig(**d["soak"]),
            reference_inputs_sha256=d["reference_inputs_sha256"],
            label=d["label"],
            lease_holder=d.get("lease_holder", ""),
            lease_ttl_s=d.get("lease_ttl_s", 0.0),
            companions=tuple(ArtifactFile(**c) for c in d.get("companions", ())),
            load=LoadConfig.from_json_dict(d["load"]) if d.get("load") else LoadConfig(),
        )


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class HostLoad:
    """What the host did around the measured loop; figures are None when not measured."""

    measured: bool = False
    load_avg_1m_start: float | None = None
    load_avg_1m_end: float | None = None
    other_cpu_share: float | None = None  # of the machine's CPU capacity, 0..1
    steal_share: float | None = None  # of the machine's CPU capacity, 0..1
    cpus: int = 0

    def to_json_dict(self) -> dict[str, float | int | bool | None]:
        return dict(self.__dict__)

    @classmethod
    def from_json_dict(cls, d: dict[str, object] | None) -> HostLoad:
        return cls(**d) if d else cls()  # type: ignore[arg-type]


@dataclass
class LoadPoint:
    """One point of an offline sweep or a server load: its settings and every request.

    Latencies are of served requests, in the order they were issued: server, from each
    request's scheduled arrival (queueing included); offline, each request's own run.
    Figures (rates, percentiles, CPU utilisation) are computed from these by whoever reads
    them, never summarised here.
    """

    concurrency: int
    batch: int  # samples per request
    threads: int  # intra-op threads of each executor (0: the runtime's default)
    target_qps: float  # server: the rate asked for; 0 for offline
    latencies_ns: list[int]
    planned: int  # requests scheduled (server) or taken from the queue (offline)
    begin_ns: int  # server: the schedule's origin; offline: when every request was issued
    end_ns: int  # the last served request's end
    cpu_ns: int  # the worker's CPU time over the point, every thread
    cpus: int  # CPUs the worker may use: utilisation is cpu_ns / (wall x cpus)
    stop_reason: str
    held: bool | None = None  # server with a bound: did the percentile meet it
    schedule_ns: int = 0  # server: the last scheduled arrival, from begin_ns (offline: 0)


@dataclass
class LoadResult:
    """What an offline or server job measured, point by point.

    ``headline`` is the point whose latencies and window are the job's own (the result row's
    figures): offline, the point with the most samples per second; server, the peak (the
    highest rate that met the bound), else the one rate asked for, else the lowest tried.
    """

    kind: str  # offline | server
    points: list[LoadPoint]
    headline: int
    latency_bound_ms: float = 0.0  # server; 0 = no bound
    percentile: float = 99.0
    search: str = ""  # server with qps auto: why the search stopped


@dataclass
class JobResult:
    """What a finished job reports. Latencies are every measured iteration, in ns."""

    load_ns: int
    compile_ns: int
    first_inference_ns: int
    warmup_iterations: int
    latencies_ns: list[int]
    measure_start_ns: int
    measure_end_ns: int
    peak_rss_bytes: int
    rss_before_load_bytes: int
    runtime: str
    runtime_version: str
    providers_used: list[str]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    stop_reason: str
    reference_outputs_npz: bytes = b""
    telemetry_summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    soak_windows: list[dict[str, Any]] = field(default_factory=list)
    compile_cache_hit: bool = False
    op_profile: OpProfile | None = None
    load: LoadResult | None = None  # offline and server jobs
    host_load: HostLoad = field(default_factory=HostLoad)

    @property
    def inferences(self) -> int:
        """Samples the measured window served: requests times the batch of each."""
        batch = self.load.points[self.load.headline].batch if self.load else 1
        return len(self.latencies_ns) * batch


@dataclass(frozen=True)
class Progress:
    phase: str
    iterations: int = 0
    elapsed_ns: int = 0


@dataclass(frozen=True)
class TelemetryPoint:
    t_ns: int
    sensor: str
    metric: str
    value: float


@dataclass(frozen=True)
class TelemetryGapInfo:
    t_ns: int
    source: str
    reason: str


@dataclass(frozen=True)
class TelemetryBatch:
    samples: tuple[TelemetryPoint, ...] = ()
    gaps: tuple[TelemetryGapInfo, ...] = ()


@dataclass(frozen=True)
class JobFailure:
    """A job that ended without a result. ``kind`` says whose fault it was and whether a
    retry can help (``rigbench.failures``); ``message`` is the failing party's own words.
    """

    kind: FailureKind
    message: str


@dataclass(frozen=True)
class ResultPart:
    """A piece of a result too large for one message: its serialized bytes, in order."""

    data: bytes
    total_bytes: int


@dataclass(frozen=True)
class PartsEnd:
    """The end of a job whose result came as ``ResultPart`` events before it."""


EventBody = Progress | TelemetryBatch | JobResult | JobFailure | ResultPart | PartsEnd


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    seq: int
    body: EventBody
    replayed: bool = False

    @property
    def is_terminal(self) -> bool:
        return isinstance(self.body, (JobResult, JobFailure, PartsEnd))
