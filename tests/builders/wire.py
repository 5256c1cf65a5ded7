"""Hypothesis strategies for every message that crosses the wire, with wire-valid values."""

from __future__ import annotations

from hypothesis import strategies as st

from rigbench.agent.describe import DeviceDescription, SensorSummary
from rigbench.agent.jobs import (
    InputOverride,
    JobEvent,
    JobFailure,
    JobResult,
    JobSpec,
    LoadConfig,
    LoadPoint,
    LoadResult,
    MeasurementConfig,
    PartsEnd,
    Progress,
    ResultPart,
    RuntimeConfig,
    SoakConfig,
    TelemetryBatch,
    TelemetryConfig,
    TelemetryGapInfo,
    TelemetryPoint,
    TensorInfo,
)
from rigbench.agent.runtimes.base import RuntimeDescription
from rigbench.failures import FailureKind

# Generous but wire-valid values: proto strings are UTF-8, int32/int64 have ranges, NaN is
# never equal to itself. Fields whose proto zero means "default" are drawn non-zero.
text = st.text(max_size=12)
nonempty = st.text(min_size=1, max_size=12)
int32 = st.integers(0, 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
uint64 = st.integers(0, 2**63 - 1)
double = st.floats(allow_nan=False)
positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)
small_dict = st.dictionaries(text, text, max_size=3)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
input_overrides = st.builds(
    InputOverride,
    name=text,
    shape=st.none() | st.lists(st.integers(1, 2**40), min_size=1, max_size=5).map(tuple),
    dtype=st.none() | nonempty,
    value=st.none() | double,
)
runtime_configs = st.builds(
    RuntimeConfig,
    runtime=nonempty,
    providers=st.lists(text, max_size=3).map(tuple),
    allow_cpu_fallback=st.booleans(),
    intra_op_threads=int32,
    inter_op_threads=int32,
    graph_optimization=text,
    options=small_dict,
)
measurement_configs = st.builds(
    MeasurementConfig,
    warmup_iterations=int32,
    warmup_s=double,
    min_iterations=int32,
    max_iterations=int32,
    min_duration_s=double,
    max_duration_s=double,
    ci_target_rel_width=double,
    ci_confidence=st.floats(0.01, 0.999),
    seed=int64,
)
positive_int32 = st.integers(1, 2**31 - 1)
load_configs = st.just(LoadConfig()) | st.builds(
    LoadConfig,
    kind=st.sampled_from(["offline", "server"]),
    concurrency=st.lists(positive_int32, min_size=1, max_size=3).map(tuple),
    batch=st.lists(positive_int32, max_size=3).map(tuple),
    threads=st.lists(positive_int32, max_size=3).map(tuple),
    qps=double,
    latency_ms=double,
    percentile=positive,
    duration_s=double,
)
job_specs = st.builds(
    JobSpec,
    job_id=text,
    artifact_sha256=text,
    model_format=text,
    runtime=runtime_configs,
    inputs=st.lists(input_overrides, max_size=3).map(tuple),
    inputs_npz_sha256=text,
    measurement=measurement_configs,
    telemetry=st.builds(
        TelemetryConfig, enabled=st.booleans(), rate_hz=positive, idle_baseline_s=double
    ),
    soak=st.builds(SoakConfig, duration_s=double, window_s=positive),
    reference_inputs_sha256=text,
    label=text,
    lease_holder=text,
    lease_ttl_s=double,
    load=load_configs,
)
tensors = st.lists(
    st.builds(
        TensorInfo,
        name=text,
        dtype=text,
        shape=st.lists(st.integers(0, 2**40), max_size=4).map(tuple),
    ),
    max_size=3,
)
load_points = st.builds(
    LoadPoint,
    concurrency=int32,
    batch=int32,
    threads=int32,
    target_qps=double,
    latencies_ns=st.lists(uint64, max_size=20),
    planned=int64,
    begin_ns=int64,
    end_ns=int64,
    cpu_ns=int64,
    cpus=int32,
    stop_reason=text,
    held=st.none() | st.booleans(),
    schedule_ns=int64,
)
load_results = st.builds(
    LoadResult,
    kind=st.sampled_from(["offline", "server"]),
    points=st.lists(load_points, max_size=4),
    headline=int32,
    latency_bound_ms=double,
    percentile=double,
    search=text,
)
job_results = st.builds(
    JobResult,
    load_ns=int64,
    compile_ns=int64,
    first_inference_ns=int64,
    warmup_iterations=int64,
    latencies_ns=st.lists(uint64, max_size=50),
    measure_start_ns=int64,
    measure_end_ns=int64,
    peak_rss_bytes=int64,
    rss_before_load_bytes=int64,
    runtime=text,
    runtime_version=text,
    providers_used=st.lists(text, max_size=3),
    inputs=tensors,
    outputs=tensors,
    stop_reason=text,
    reference_outputs_npz=st.binary(max_size=64),
    telemetry_summary=st.dictionaries(text, json_value, max_size=4),
    warnings=st.lists(text, max_size=3),
    soak_windows=st.lists(st.dictionaries(text, json_value, max_size=3), max_size=3),
    compile_cache_hit=st.booleans(),
    load=st.none() | load_results,
)
telemetry_batches = st.builds(
    TelemetryBatch,
    samples=st.lists(st.builds(TelemetryPoint, int64, text, text, double), max_size=5).map(tuple),
    gaps=st.lists(st.builds(TelemetryGapInfo, int64, text, text), max_size=3).map(tuple),
)
event_bodies = st.one_of(
    st.builds(Progress, text, int64, int64),
    telemetry_batches,
    job_results,
    st.builds(JobFailure, st.sampled_from(FailureKind), text),
    st.builds(ResultPart, st.binary(max_size=16), int64),
    st.just(PartsEnd()),
)
job_events = st.builds(JobEvent, job_id=text, seq=int64, body=event_bodies, replayed=st.booleans())
descriptions = st.builds(
    DeviceDescription,
    agent_version=text,
    protocol_version=text,
    hostname=text,
    cpu_model=text,
    cpu_cores_logical=int32,
    cpu_cores_physical=int32,
    memory_bytes=int64,
    os=text,
    kernel=text,
    arch=text,
    python_version=text,
    runtimes=st.lists(
        st.builds(RuntimeDescription, text, text, st.lists(text, max_size=3).map(tuple), text),
        max_size=3,
    ),
    sensors=st.lists(
        st.builds(
            SensorSummary,
            text,
            text,
            text,
            st.lists(text, max_size=3),
            st.none() | positive,
            st.booleans(),
        ),
        max_size=3,
    ),
    simulated=st.booleans(),
    fingerprint=small_dict,
    busy_job_id=text,
    sensor_settings=st.dictionaries(text, small_dict, max_size=3),
)
