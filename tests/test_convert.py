"""Protobuf <-> dataclass conversion at the gRPC edge: every pair round-trips."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.agent.convert import (
    description_from_pb,
    description_to_pb,
    event_from_pb,
    event_to_pb,
    job_spec_from_pb,
    job_spec_to_pb,
    result_from_pb,
    result_to_pb,
)
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
    load_result_from_json,
    load_result_json,
)
from rigbench.agent.runtimes.base import RuntimeDescription
from rigbench.failures import FailureKind
from rigbench.v1 import agent_pb2 as pb

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

NO_DEADLINE = settings(deadline=None)  # no wall-clock limits: the machine is shared


def over_the_wire(msg: Any) -> Any:
    """Serialise and parse again, as gRPC does."""
    out = type(msg)()
    out.ParseFromString(msg.SerializeToString())
    return out


@NO_DEADLINE
@given(job_specs)
def test_job_spec_round_trips_through_protobuf(spec: JobSpec) -> None:
    assert job_spec_from_pb(over_the_wire(job_spec_to_pb(spec))) == spec


@NO_DEADLINE
@given(job_specs)
def test_job_spec_round_trips_through_the_workers_json(spec: JobSpec) -> None:
    d = json.loads(json.dumps(spec.to_json_dict()))
    assert JobSpec.from_json_dict(d) == spec


@NO_DEADLINE
@given(job_results)
def test_job_result_round_trips_through_protobuf(result: JobResult) -> None:
    assert result_from_pb(over_the_wire(result_to_pb(result))) == result


@NO_DEADLINE
@given(load_results)
def test_a_load_result_round_trips_through_the_workers_hand_off(load: LoadResult) -> None:
    d = json.loads(json.dumps(load_result_json(load)))["load"]
    every = [ns for p in load.points for ns in p.latencies_ns]
    assert load_result_from_json(d, every) == load


@NO_DEADLINE
@given(job_events)
def test_job_event_round_trips_through_protobuf(event: JobEvent) -> None:
    assert event_from_pb(over_the_wire(event_to_pb(event))) == event


@NO_DEADLINE
@given(descriptions)
def test_device_description_round_trips_through_protobuf(d: DeviceDescription) -> None:
    assert description_from_pb(over_the_wire(description_to_pb(d))) == d


def test_each_event_body_sets_its_own_oneof_field() -> None:
    result = JobResult(
        0, 0, 0, 0, [1, 2], 0, 0, 0, 0, "onnxruntime", "1", ["CPU"], [], [], "min_reached"
    )
    bodies = {
        "progress": Progress("warmup"),
        "telemetry": TelemetryBatch(),
        "result": result,
        "error": JobFailure(FailureKind.MODEL, "bad"),
    }
    for field, body in bodies.items():
        assert event_to_pb(JobEvent("j", 1, body)).WhichOneof("event") == field


def test_event_without_a_body_becomes_an_internal_failure() -> None:
    e = event_from_pb(pb.JobEvent(job_id="j", seq=3))
    assert e.body.kind is FailureKind.INTERNAL
    assert e.body.message == "rigbench bug (please report it): agent sent an event with no body"
    assert e.is_terminal


def test_unset_proto_defaults_become_the_dataclass_defaults() -> None:
    spec = job_spec_from_pb(pb.JobSpec(job_id="j", artifact_sha256="a", model_format="onnx"))
    assert spec.runtime.runtime == "onnxruntime"
    assert spec.measurement.ci_confidence == 0.95
    assert spec.telemetry.rate_hz == 10.0
    assert spec.soak.window_s == 10.0


def test_input_override_without_value_stays_without_value() -> None:
    spec = JobSpec("j", "a", "onnx", inputs=(InputOverride("x", shape=(1, 2)),))
    back = job_spec_from_pb(job_spec_to_pb(spec))
    assert back.inputs[0].value is None
    assert back.inputs[0].dtype is None


def test_input_override_value_zero_is_kept() -> None:
    spec = JobSpec("j", "a", "onnx", inputs=(InputOverride("x", value=0.0),))
    assert job_spec_from_pb(job_spec_to_pb(spec)).inputs[0].value == 0.0


def test_latencies_are_packed_on_the_wire() -> None:
    r = JobResult(0, 0, 0, 0, [1000] * 1000, 0, 0, 0, 0, "", "", [], [], [], "")
    # Packed int64: ~2 bytes per 1000 ns value, not a tag byte per element on top.
    assert len(result_to_pb(r).SerializeToString()) < 2 * 1000 + 16
