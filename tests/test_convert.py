"""Protobuf <-> dataclass conversion at the gRPC edge: every pair round-trips."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

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
from rigbench.agent.describe import DeviceDescription
from rigbench.agent.jobs import (
    InputOverride,
    JobEvent,
    JobFailure,
    JobResult,
    JobSpec,
    Progress,
    TelemetryBatch,
)
from rigbench.failures import FailureKind
from rigbench.v1 import agent_pb2 as pb
from tests.builders.wire import descriptions, job_events, job_results, job_specs

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
