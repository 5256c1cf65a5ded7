from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuntimeInfo(_message.Message):
    __slots__ = ("name", "version", "providers", "module")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    module: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., module: _Optional[str] = ...) -> None: ...

class SensorInfo(_message.Message):
    __slots__ = ("source", "status", "detail", "sensors", "update_period_s", "simulated")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    source: str
    status: str
    detail: str
    sensors: _containers.RepeatedScalarFieldContainer[str]
    update_period_s: float
    simulated: bool
    def __init__(self, source: _Optional[str] = ..., status: _Optional[str] = ..., detail: _Optional[str] = ..., sensors: _Optional[_Iterable[str]] = ..., update_period_s: _Optional[float] = ..., simulated: _Optional[bool] = ...) -> None: ...

class DeviceDescription(_message.Message):
    __slots__ = ("agent_version", "protocol_version", "hostname", "cpu_model", "cpu_cores_logical", "cpu_cores_physical", "memory_bytes", "os", "kernel", "arch", "python_version", "runtimes", "sensors", "simulated", "fingerprint", "busy_job_id", "emulation", "absent_runtimes", "sensor_settings")
    class FingerprintEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SensorSettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: SensorSettings
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[SensorSettings, _Mapping]] = ...) -> None: ...
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_LOGICAL_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_PHYSICAL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    BUSY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EMULATION_FIELD_NUMBER: _ClassVar[int]
    ABSENT_RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    SENSOR_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    protocol_version: str
    hostname: str
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int
    memory_bytes: int
    os: str
    kernel: str
    arch: str
    python_version: str
    runtimes: _containers.RepeatedCompositeFieldContainer[RuntimeInfo]
    sensors: _containers.RepeatedCompositeFieldContainer[SensorInfo]
    simulated: bool
    fingerprint: _containers.ScalarMap[str, str]
    busy_job_id: str
    emulation: Emulation
    absent_runtimes: _containers.RepeatedScalarFieldContainer[str]
    sensor_settings: _containers.MessageMap[str, SensorSettings]
    def __init__(self, agent_version: _Optional[str] = ..., protocol_version: _Optional[str] = ..., hostname: _Optional[str] = ..., cpu_model: _Optional[str] = ..., cpu_cores_logical: _Optional[int] = ..., cpu_cores_physical: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., os: _Optional[str] = ..., kernel: _Optional[str] = ..., arch: _Optional[str] = ..., python_version: _Optional[str] = ..., runtimes: _Optional[_Iterable[_Union[RuntimeInfo, _Mapping]]] = ..., sensors: _Optional[_Iterable[_Union[SensorInfo, _Mapping]]] = ..., simulated: _Optional[bool] = ..., fingerprint: _Optional[_Mapping[str, str]] = ..., busy_job_id: _Optional[str] = ..., emulation: _Optional[_Union[Emulation, _Mapping]] = ..., absent_runtimes: _Optional[_Iterable[str]] = ..., sensor_settings: _Optional[_Mapping[str, SensorSettings]] = ...) -> None: ...

class Emulation(_message.Message):
    __slots__ = ("emulator", "host_arch", "interpreter", "cpu_model", "evidence")
    EMULATOR_FIELD_NUMBER: _ClassVar[int]
    HOST_ARCH_FIELD_NUMBER: _ClassVar[int]
    INTERPRETER_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    emulator: str
    host_arch: str
    interpreter: str
    cpu_model: str
    evidence: str
    def __init__(self, emulator: _Optional[str] = ..., host_arch: _Optional[str] = ..., interpreter: _Optional[str] = ..., cpu_model: _Optional[str] = ..., evidence: _Optional[str] = ...) -> None: ...

class SensorSettings(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    def __init__(self, values: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MissingArtifactsRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class MissingArtifactsResponse(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class ArtifactChunk(_message.Message):
    __slots__ = ("sha256", "size_bytes", "data")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    data: bytes
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutArtifactResponse(_message.Message):
    __slots__ = ("sha256", "size_bytes", "already_present")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    already_present: bool
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., already_present: _Optional[bool] = ...) -> None: ...

class InputOverride(_message.Message):
    __slots__ = ("name", "shape", "dtype", "has_value", "value", "has_range", "range_low", "range_high")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    HAS_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HAS_RANGE_FIELD_NUMBER: _ClassVar[int]
    RANGE_LOW_FIELD_NUMBER: _ClassVar[int]
    RANGE_HIGH_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    has_value: bool
    value: float
    has_range: bool
    range_low: float
    range_high: float
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., has_value: _Optional[bool] = ..., value: _Optional[float] = ..., has_range: _Optional[bool] = ..., range_low: _Optional[float] = ..., range_high: _Optional[float] = ...) -> None: ...

class RuntimeConfig(_message.Message):
    __slots__ = ("runtime", "providers", "allow_cpu_fallback", "intra_op_threads", "inter_op_threads", "graph_optimization", "options", "profile")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_CPU_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    INTRA_OP_THREADS_FIELD_NUMBER: _ClassVar[int]
    INTER_OP_THREADS_FIELD_NUMBER: _ClassVar[int]
    GRAPH_OPTIMIZATION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    runtime: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    allow_cpu_fallback: bool
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization: str
    options: _containers.ScalarMap[str, str]
    profile: bool
    def __init__(self, runtime: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., allow_cpu_fallback: _Optional[bool] = ..., intra_op_threads: _Optional[int] = ..., inter_op_threads: _Optional[int] = ..., graph_optimization: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ..., profile: _Optional[bool] = ...) -> None: ...

class MeasurementConfig(_message.Message):
    __slots__ = ("warmup_iterations", "warmup_s", "min_iterations", "max_iterations", "min_duration_s", "max_duration_s", "ci_target_rel_width", "ci_confidence", "seed", "rotate_inputs", "ci_min_duration_s")
    WARMUP_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_S_FIELD_NUMBER: _ClassVar[int]
    MIN_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    CI_TARGET_REL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    CI_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ROTATE_INPUTS_FIELD_NUMBER: _ClassVar[int]
    CI_MIN_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    warmup_iterations: int
    warmup_s: float
    min_iterations: int
    max_iterations: int
    min_duration_s: float
    max_duration_s: float
    ci_target_rel_width: float
    ci_confidence: float
    seed: int
    rotate_inputs: bool
    ci_min_duration_s: float
    def __init__(self, warmup_iterations: _Optional[int] = ..., warmup_s: _Optional[float] = ..., min_iterations: _Optional[int] = ..., max_iterations: _Optional[int] = ..., min_duration_s: _Optional[float] = ..., max_duration_s: _Optional[float] = ..., ci_target_rel_width: _Optional[float] = ..., ci_confidence: _Optional[float] = ..., seed: _Optional[int] = ..., rotate_inputs: _Optional[bool] = ..., ci_min_duration_s: _Optional[float] = ...) -> None: ...

class TelemetryConfig(_message.Message):
    __slots__ = ("enabled", "rate_hz", "idle_baseline_s")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    IDLE_BASELINE_S_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    rate_hz: float
    idle_baseline_s: float
    def __init__(self, enabled: _Optional[bool] = ..., rate_hz: _Optional[float] = ..., idle_baseline_s: _Optional[float] = ...) -> None: ...

class SoakConfig(_message.Message):
    __slots__ = ("duration_s", "window_s")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    window_s: float
    def __init__(self, duration_s: _Optional[float] = ..., window_s: _Optional[float] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("job_id", "artifact_sha256", "model_format", "runtime", "inputs", "inputs_npz_sha256", "measurement", "telemetry", "soak", "reference_inputs_sha256", "label", "lease_holder", "lease_ttl_s", "companions", "load")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    MODEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_NPZ_SHA256_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    SOAK_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_INPUTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LEASE_HOLDER_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_S_FIELD_NUMBER: _ClassVar[int]
    COMPANIONS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    artifact_sha256: str
    model_format: str
    runtime: RuntimeConfig
    inputs: _containers.RepeatedCompositeFieldContainer[InputOverride]
    inputs_npz_sha256: str
    measurement: MeasurementConfig
    telemetry: TelemetryConfig
    soak: SoakConfig
    reference_inputs_sha256: str
    label: str
    lease_holder: str
    lease_ttl_s: float
    companions: _containers.RepeatedCompositeFieldContainer[ArtifactFile]
    load: LoadConfig
    def __init__(self, job_id: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., model_format: _Optional[str] = ..., runtime: _Optional[_Union[RuntimeConfig, _Mapping]] = ..., inputs: _Optional[_Iterable[_Union[InputOverride, _Mapping]]] = ..., inputs_npz_sha256: _Optional[str] = ..., measurement: _Optional[_Union[MeasurementConfig, _Mapping]] = ..., telemetry: _Optional[_Union[TelemetryConfig, _Mapping]] = ..., soak: _Optional[_Union[SoakConfig, _Mapping]] = ..., reference_inputs_sha256: _Optional[str] = ..., label: _Optional[str] = ..., lease_holder: _Optional[str] = ..., lease_ttl_s: _Optional[float] = ..., companions: _Optional[_Iterable[_Union[ArtifactFile, _Mapping]]] = ..., load: _Optional[_Union[LoadConfig, _Mapping]] = ...) -> None: ...

class ArtifactFile(_message.Message):
    __slots__ = ("name", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    sha256: str
    def __init__(self, name: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class LoadConfig(_message.Message):
    __slots__ = ("kind", "concurrency", "batch", "threads", "qps", "latency_ms", "percentile", "duration_s")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    QPS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    kind: str
    concurrency: _containers.RepeatedScalarFieldContainer[int]
    batch: _containers.RepeatedScalarFieldContainer[int]
    threads: _containers.RepeatedScalarFieldContainer[int]
    qps: float
    latency_ms: float
    percentile: float
    duration_s: float
    def __init__(self, kind: _Optional[str] = ..., concurrency: _Optional[_Iterable[int]] = ..., batch: _Optional[_Iterable[int]] = ..., threads: _Optional[_Iterable[int]] = ..., qps: _Optional[float] = ..., latency_ms: _Optional[float] = ..., percentile: _Optional[float] = ..., duration_s: _Optional[float] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("phase", "iterations", "elapsed_ns")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_NS_FIELD_NUMBER: _ClassVar[int]
    phase: str
    iterations: int
    elapsed_ns: int
    def __init__(self, phase: _Optional[str] = ..., iterations: _Optional[int] = ..., elapsed_ns: _Optional[int] = ...) -> None: ...

class TelemetrySample(_message.Message):
    __slots__ = ("t_ns", "sensor", "metric", "value")
    T_NS_FIELD_NUMBER: _ClassVar[int]
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    t_ns: int
    sensor: str
    metric: str
    value: float
    def __init__(self, t_ns: _Optional[int] = ..., sensor: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class TelemetryBatch(_message.Message):
    __slots__ = ("samples", "gaps")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[TelemetrySample]
    gaps: _containers.RepeatedCompositeFieldContainer[TelemetryGap]
    def __init__(self, samples: _Optional[_Iterable[_Union[TelemetrySample, _Mapping]]] = ..., gaps: _Optional[_Iterable[_Union[TelemetryGap, _Mapping]]] = ...) -> None: ...

class TelemetryGap(_message.Message):
    __slots__ = ("t_ns", "source", "reason")
    T_NS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    t_ns: int
    source: str
    reason: str
    def __init__(self, t_ns: _Optional[int] = ..., source: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("name", "dtype", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("load_ns", "compile_ns", "first_inference_ns", "warmup_iterations", "latencies_ns", "measure_start_ns", "measure_end_ns", "peak_rss_bytes", "rss_before_load_bytes", "runtime", "runtime_version", "providers_used", "inputs", "outputs", "reference_outputs_npz", "telemetry_summary_json", "stop_reason", "warnings", "soak_windows_json", "compile_cache_hit", "from_parts", "op_profile", "host_load", "load")
    LOAD_NS_FIELD_NUMBER: _ClassVar[int]
    COMPILE_NS_FIELD_NUMBER: _ClassVar[int]
    FIRST_INFERENCE_NS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LATENCIES_NS_FIELD_NUMBER: _ClassVar[int]
    MEASURE_START_NS_FIELD_NUMBER: _ClassVar[int]
    MEASURE_END_NS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    RSS_BEFORE_LOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_USED_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_OUTPUTS_NPZ_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    SOAK_WINDOWS_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPILE_CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    FROM_PARTS_FIELD_NUMBER: _ClassVar[int]
    OP_PROFILE_FIELD_NUMBER: _ClassVar[int]
    HOST_LOAD_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    load_ns: int
    compile_ns: int
    first_inference_ns: int
    warmup_iterations: int
    latencies_ns: _containers.RepeatedScalarFieldContainer[int]
    measure_start_ns: int
    measure_end_ns: int
    peak_rss_bytes: int
    rss_before_load_bytes: int
    runtime: str
    runtime_version: str
    providers_used: _containers.RepeatedScalarFieldContainer[str]
    inputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    reference_outputs_npz: bytes
    telemetry_summary_json: str
    stop_reason: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    soak_windows_json: str
    compile_cache_hit: bool
    from_parts: bool
    op_profile: OpProfile
    host_load: HostLoad
    load: LoadResult
    def __init__(self, load_ns: _Optional[int] = ..., compile_ns: _Optional[int] = ..., first_inference_ns: _Optional[int] = ..., warmup_iterations: _Optional[int] = ..., latencies_ns: _Optional[_Iterable[int]] = ..., measure_start_ns: _Optional[int] = ..., measure_end_ns: _Optional[int] = ..., peak_rss_bytes: _Optional[int] = ..., rss_before_load_bytes: _Optional[int] = ..., runtime: _Optional[str] = ..., runtime_version: _Optional[str] = ..., providers_used: _Optional[_Iterable[str]] = ..., inputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ..., reference_outputs_npz: _Optional[bytes] = ..., telemetry_summary_json: _Optional[str] = ..., stop_reason: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., soak_windows_json: _Optional[str] = ..., compile_cache_hit: _Optional[bool] = ..., from_parts: _Optional[bool] = ..., op_profile: _Optional[_Union[OpProfile, _Mapping]] = ..., host_load: _Optional[_Union[HostLoad, _Mapping]] = ..., load: _Optional[_Union[LoadResult, _Mapping]] = ...) -> None: ...

class LoadResult(_message.Message):
    __slots__ = ("kind", "points", "headline", "latency_bound_ms", "percentile", "search")
    KIND_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BOUND_MS_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    kind: str
    points: _containers.RepeatedCompositeFieldContainer[LoadPoint]
    headline: int
    latency_bound_ms: float
    percentile: float
    search: str
    def __init__(self, kind: _Optional[str] = ..., points: _Optional[_Iterable[_Union[LoadPoint, _Mapping]]] = ..., headline: _Optional[int] = ..., latency_bound_ms: _Optional[float] = ..., percentile: _Optional[float] = ..., search: _Optional[str] = ...) -> None: ...

class LoadPoint(_message.Message):
    __slots__ = ("concurrency", "batch", "threads", "target_qps", "latencies_ns", "planned", "begin_ns", "end_ns", "cpu_ns", "cpus", "stop_reason", "has_held", "held", "schedule_ns")
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    TARGET_QPS_FIELD_NUMBER: _ClassVar[int]
    LATENCIES_NS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_FIELD_NUMBER: _ClassVar[int]
    BEGIN_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    CPU_NS_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    HAS_HELD_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_NS_FIELD_NUMBER: _ClassVar[int]
    concurrency: int
    batch: int
    threads: int
    target_qps: float
    latencies_ns: _containers.RepeatedScalarFieldContainer[int]
    planned: int
    begin_ns: int
    end_ns: int
    cpu_ns: int
    cpus: int
    stop_reason: str
    has_held: bool
    held: bool
    schedule_ns: int
    def __init__(self, concurrency: _Optional[int] = ..., batch: _Optional[int] = ..., threads: _Optional[int] = ..., target_qps: _Optional[float] = ..., latencies_ns: _Optional[_Iterable[int]] = ..., planned: _Optional[int] = ..., begin_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., cpu_ns: _Optional[int] = ..., cpus: _Optional[int] = ..., stop_reason: _Optional[str] = ..., has_held: _Optional[bool] = ..., held: _Optional[bool] = ..., schedule_ns: _Optional[int] = ...) -> None: ...

class HostLoad(_message.Message):
    __slots__ = ("measured", "load_avg_1m_start", "load_avg_1m_end", "other_cpu_share", "steal_share", "cpus")
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVG_1M_START_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVG_1M_END_FIELD_NUMBER: _ClassVar[int]
    OTHER_CPU_SHARE_FIELD_NUMBER: _ClassVar[int]
    STEAL_SHARE_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    measured: bool
    load_avg_1m_start: float
    load_avg_1m_end: float
    other_cpu_share: float
    steal_share: float
    cpus: int
    def __init__(self, measured: _Optional[bool] = ..., load_avg_1m_start: _Optional[float] = ..., load_avg_1m_end: _Optional[float] = ..., other_cpu_share: _Optional[float] = ..., steal_share: _Optional[float] = ..., cpus: _Optional[int] = ...) -> None: ...

class ResultPart(_message.Message):
    __slots__ = ("data", "total_bytes")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_bytes: int
    def __init__(self, data: _Optional[bytes] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class OpProfile(_message.Message):
    __slots__ = ("requested_unit", "iterations", "wall_ns", "rows", "note")
    REQUESTED_UNIT_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    WALL_NS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    requested_unit: str
    iterations: int
    wall_ns: int
    rows: _containers.RepeatedCompositeFieldContainer[OpRow]
    note: str
    def __init__(self, requested_unit: _Optional[str] = ..., iterations: _Optional[int] = ..., wall_ns: _Optional[int] = ..., rows: _Optional[_Iterable[_Union[OpRow, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class OpRow(_message.Message):
    __slots__ = ("node", "op_type", "exec_unit", "kernel", "calls", "total_ns")
    NODE_FIELD_NUMBER: _ClassVar[int]
    OP_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXEC_UNIT_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NS_FIELD_NUMBER: _ClassVar[int]
    node: str
    op_type: str
    exec_unit: str
    kernel: str
    calls: int
    total_ns: int
    def __init__(self, node: _Optional[str] = ..., op_type: _Optional[str] = ..., exec_unit: _Optional[str] = ..., kernel: _Optional[str] = ..., calls: _Optional[int] = ..., total_ns: _Optional[int] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("kind", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    message: str
    def __init__(self, kind: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "seq", "progress", "telemetry", "result", "error", "result_part", "replayed")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULT_PART_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    seq: int
    progress: Progress
    telemetry: TelemetryBatch
    result: JobResult
    error: JobError
    result_part: ResultPart
    replayed: bool
    def __init__(self, job_id: _Optional[str] = ..., seq: _Optional[int] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., telemetry: _Optional[_Union[TelemetryBatch, _Mapping]] = ..., result: _Optional[_Union[JobResult, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., result_part: _Optional[_Union[ResultPart, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class AttachJobRequest(_message.Message):
    __slots__ = ("job_id", "from_seq")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    from_seq: int
    def __init__(self, job_id: _Optional[str] = ..., from_seq: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "lease_holder", "admin")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_HOLDER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_holder: str
    admin: bool
    def __init__(self, job_id: _Optional[str] = ..., lease_holder: _Optional[str] = ..., admin: _Optional[bool] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("cancelled", "state")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    state: str
    def __init__(self, cancelled: _Optional[bool] = ..., state: _Optional[str] = ...) -> None: ...

class ReleaseDeviceRequest(_message.Message):
    __slots__ = ("lease_holder",)
    LEASE_HOLDER_FIELD_NUMBER: _ClassVar[int]
    lease_holder: str
    def __init__(self, lease_holder: _Optional[str] = ...) -> None: ...

class ReleaseDeviceResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...
