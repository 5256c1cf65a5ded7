"""Protobuf <-> domain conversion, the only place that knows both shapes.

Everything inside the agent and the controller works on the dataclasses of ``jobs.py``; the
gRPC edge calls these functions. Each pair round-trips (tests/test_convert.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from rigbench.agent.describe import DeviceDescription, SensorSummary
from rigbench.agent.emulation import Emulation
from rigbench.agent.jobs import (
    ArtifactFile,
    HostLoad,
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
from rigbench.agent.profiling import OpProfile, OpRow
from rigbench.agent.runtimes.base import RuntimeDescription
from rigbench.failures import FailureKind, internal_message
from rigbench.v1 import agent_pb2 as pb

# A result whose serialized form is larger than this travels as ResultPart events, each well
# under the gRPC message limit (64 MB), so results of any size reach the controller.
PART_BYTES = 4 << 20
# One MissingArtifacts call asks about at most this many digests (a job needs three; a
# controller asks in batches): a huge request must not block the agent's event loop.
MAX_DIGESTS_PER_CALL = 1024


def job_spec_to_pb(spec: JobSpec) -> pb.JobSpec:
    r, m, t, s = spec.runtime, spec.measurement, spec.telemetry, spec.soak
    return pb.JobSpec(
        job_id=spec.job_id,
        artifact_sha256=spec.artifact_sha256,
        model_format=spec.model_format,
        runtime=pb.RuntimeConfig(
            runtime=r.runtime,
            providers=list(r.providers),
            allow_cpu_fallback=r.allow_cpu_fallback,
            intra_op_threads=r.intra_op_threads,
            inter_op_threads=r.inter_op_threads,
            graph_optimization=r.graph_optimization,
            options=dict(r.options),
            profile=r.profile,
        ),
        inputs=[
            pb.InputOverride(
                name=i.name,
                shape=list(i.shape or ()),
                dtype=i.dtype or "",
                has_value=i.value is not None,
                value=i.value if i.value is not None else 0.0,
                has_range=i.range is not None,
                range_low=i.range[0] if i.range is not None else 0.0,
                range_high=i.range[1] if i.range is not None else 0.0,
            )
            for i in spec.inputs
        ],
        inputs_npz_sha256=spec.inputs_npz_sha256,
        measurement=pb.MeasurementConfig(
            warmup_iterations=m.warmup_iterations,
            warmup_s=m.warmup_s,
            min_iterations=m.min_iterations,
            max_iterations=m.max_iterations,
            min_duration_s=m.min_duration_s,
            max_duration_s=m.max_duration_s,
            ci_target_rel_width=m.ci_target_rel_width,
            ci_confidence=m.ci_confidence,
            seed=m.seed,
            rotate_inputs=m.rotate_inputs,
            ci_min_duration_s=m.ci_min_duration_s,
        ),
        telemetry=pb.TelemetryConfig(
            enabled=t.enabled, rate_hz=t.rate_hz, idle_baseline_s=t.idle_baseline_s
        ),
        soak=pb.SoakConfig(duration_s=s.duration_s, window_s=s.window_s),
        reference_inputs_sha256=spec.reference_inputs_sha256,
        label=spec.label,
        lease_holder=spec.lease_holder,
        lease_ttl_s=spec.lease_ttl_s,
        companions=[pb.ArtifactFile(name=c.name, sha256=c.sha256) for c in spec.companions],
        load=_load_config_to_pb(spec.load) if spec.load.is_load else None,
    )


def _load_config_to_pb(c: LoadConfig) -> pb.LoadConfig:
    return pb.LoadConfig(
        kind=c.kind,
        concurrency=list(c.concurrency),
        batch=list(c.batch),
        threads=list(c.threads),
        qps=c.qps,
        latency_ms=c.latency_ms,
        percentile=c.percentile,
        duration_s=c.duration_s,
    )


def _load_config_from_pb(m: pb.LoadConfig) -> LoadConfig:
    if not m.kind:
        return LoadConfig()
    return LoadConfig(
        kind=m.kind,
        concurrency=tuple(m.concurrency) or (1,),
        batch=tuple(m.batch),
        threads=tuple(m.threads),
        qps=m.qps,
        latency_ms=m.latency_ms,
        percentile=m.percentile or 99.0,
        duration_s=m.duration_s,
    )


def _load_result_to_pb(r: LoadResult) -> pb.LoadResult:
    return pb.LoadResult(
        kind=r.kind,
        points=[
            pb.LoadPoint(
                concurrency=p.concurrency,
                batch=p.batch,
                threads=p.threads,
                target_qps=p.target_qps,
                latencies_ns=p.latencies_ns,
                planned=p.planned,
                begin_ns=p.begin_ns,
                end_ns=p.end_ns,
                cpu_ns=p.cpu_ns,
                cpus=p.cpus,
                stop_reason=p.stop_reason,
                has_held=p.held is not None,
                held=bool(p.held),
                schedule_ns=p.schedule_ns,
            )
            for p in r.points
        ],
        headline=r.headline,
        latency_bound_ms=r.latency_bound_ms,
        percentile=r.percentile,
        search=r.search,
    )


def _load_result_from_pb(m: pb.LoadResult) -> LoadResult | None:
    if not m.kind:
        return None
    return LoadResult(
        kind=m.kind,
        points=[
            LoadPoint(
                concurrency=p.concurrency,
                batch=p.batch,
                threads=p.threads,
                target_qps=p.target_qps,
                latencies_ns=list(p.latencies_ns),
                planned=p.planned,
                begin_ns=p.begin_ns,
                end_ns=p.end_ns,
                cpu_ns=p.cpu_ns,
                cpus=p.cpus,
                stop_reason=p.stop_reason,
                held=p.held if p.has_held else None,
                schedule_ns=p.schedule_ns,
            )
            for p in m.points
        ],
        headline=m.headline,
        latency_bound_ms=m.latency_bound_ms,
        percentile=m.percentile,
        search=m.search,
    )


def job_spec_from_pb(msg: pb.JobSpec) -> JobSpec:
    r, m, t, s = msg.runtime, msg.measurement, msg.telemetry, msg.soak
    return JobSpec(
        job_id=msg.job_id,
        artifact_sha256=msg.artifact_sha256,
        model_format=msg.model_format,
        runtime=RuntimeConfig(
            runtime=r.runtime or "onnxruntime",
            providers=tuple(r.providers),
            allow_cpu_fallback=r.allow_cpu_fallback,
            intra_op_threads=r.intra_op_threads,
            inter_op_threads=r.inter_op_threads,
            graph_optimization=r.graph_optimization,
            options=dict(r.options),
            profile=r.profile,
        ),
        inputs=tuple(
            InputOverride(
                name=i.name,
                shape=tuple(i.shape) if len(i.shape) else None,
                dtype=i.dtype or None,
                value=i.value if i.has_value else None,
                range=(i.range_low, i.range_high) if i.has_range else None,
            )
            for i in msg.inputs
        ),
        inputs_npz_sha256=msg.inputs_npz_sha256,
        measurement=MeasurementConfig(
            warmup_iterations=m.warmup_iterations,
            warmup_s=m.warmup_s,
            min_iterations=m.min_iterations,
            max_iterations=m.max_iterations,
            min_duration_s=m.min_duration_s,
            max_duration_s=m.max_duration_s,
            ci_target_rel_width=m.ci_target_rel_width,
            ci_confidence=m.ci_confidence or 0.95,
            seed=m.seed,
            rotate_inputs=m.rotate_inputs,
            ci_min_duration_s=m.ci_min_duration_s,
        ),
        telemetry=TelemetryConfig(
            enabled=t.enabled, rate_hz=t.rate_hz or 10.0, idle_baseline_s=t.idle_baseline_s
        ),
        soak=SoakConfig(duration_s=s.duration_s, window_s=s.window_s or 10.0),
        reference_inputs_sha256=msg.reference_inputs_sha256,
        label=msg.label,
        lease_holder=msg.lease_holder,
        lease_ttl_s=msg.lease_ttl_s,
        companions=tuple(ArtifactFile(c.name, c.sha256) for c in msg.companions),
        load=_load_config_from_pb(msg.load),
    )


def _tensors_to_pb(tensors: list[TensorInfo]) -> list[pb.TensorInfo]:
    return [pb.TensorInfo(name=t.name, dtype=t.dtype, shape=list(t.shape)) for t in tensors]


def _tensors_from_pb(tensors: Any) -> list[TensorInfo]:
    return [TensorInfo(name=t.name, dtype=t.dtype, shape=tuple(t.shape)) for t in tensors]


def result_to_pb(r: JobResult) -> pb.JobResult:
    return pb.JobResult(
        load_ns=r.load_ns,
        compile_ns=r.compile_ns,
        first_inference_ns=r.first_inference_ns,
        warmup_iterations=r.warmup_iterations,
        latencies_ns=r.latencies_ns,
        measure_start_ns=r.measure_start_ns,
        measure_end_ns=r.measure_end_ns,
        peak_rss_bytes=r.peak_rss_bytes,
        rss_before_load_bytes=r.rss_before_load_bytes,
        runtime=r.runtime,
        runtime_version=r.runtime_version,
        providers_used=r.providers_used,
        inputs=_tensors_to_pb(r.inputs),
        outputs=_tensors_to_pb(r.outputs),
        reference_outputs_npz=r.reference_outputs_npz,
        telemetry_summary_json=json.dumps(r.telemetry_summary) if r.telemetry_summary else "",
        stop_reason=r.stop_reason,
        warnings=r.warnings,
        soak_windows_json=json.dumps(r.soak_windows) if r.soak_windows else "",
        compile_cache_hit=r.compile_cache_hit,
        load=_load_result_to_pb(r.load) if r.load is not None else None,
        op_profile=_profile_to_pb(r.op_profile) if r.op_profile is not None else None,
        host_load=_host_load_to_pb(r.host_load),
    )


def _profile_to_pb(p: OpProfile) -> pb.OpProfile:
    return pb.OpProfile(
        requested_unit=p.requested_unit,
        iterations=p.iterations,
        wall_ns=p.wall_ns,
        rows=[
            pb.OpRow(
                node=r.node,
                op_type=r.op_type,
                exec_unit=r.exec_unit,
                kernel=r.kernel,
                calls=r.calls,
                total_ns=r.total_ns,
            )
            for r in p.rows
        ],
        note=p.note,
    )


def _profile_from_pb(m: pb.OpProfile) -> OpProfile:
    return OpProfile(
        requested_unit=m.requested_unit,
        iterations=m.iterations,
        wall_ns=m.wall_ns,
        rows=[OpRow(r.node, r.op_type, r.exec_unit, r.kernel, r.calls, r.total_ns) for r in m.rows],
        note=m.note,
    )


def _host_load_to_pb(h: HostLoad) -> pb.HostLoad:
    if not h.measured:
        return pb.HostLoad(cpus=h.cpus)
    return pb.HostLoad(
        measured=True,
        load_avg_1m_start=h.load_avg_1m_start if h.load_avg_1m_start is not None else -1.0,
        load_avg_1m_end=h.load_avg_1m_end if h.load_avg_1m_end is not None else -1.0,
        other_cpu_share=h.other_cpu_share if h.other_cpu_share is not None else -1.0,
        steal_share=h.steal_share if h.steal_share is not None else -1.0,
        cpus=h.cpus,
    )


def _host_load_from_pb(m: pb.HostLoad) -> HostLoad:
    def known(v: float) -> float | None:
        return v if v >= 0 else None  # -1 on the wire: this figure was not available

    if not m.measured:
        return HostLoad(cpus=m.cpus)
    return HostLoad(
        True,
        known(m.load_avg_1m_start),
        known(m.load_avg_1m_end),
        known(m.other_cpu_share),
        known(m.steal_share),
        m.cpus,
    )


def result_from_pb(m: pb.JobResult) -> JobResult:
    return JobResult(
        load_ns=m.load_ns,
        compile_ns=m.compile_ns,
        first_inference_ns=m.first_inference_ns,
        warmup_iterations=m.warmup_iterations,
        latencies_ns=list(m.latencies_ns),
        measure_start_ns=m.measure_start_ns,
        measure_end_ns=m.measure_end_ns,
        peak_rss_bytes=m.peak_rss_bytes,
        rss_before_load_bytes=m.rss_before_load_bytes,
        runtime=m.runtime,
        runtime_version=m.runtime_version,
        providers_used=list(m.providers_used),
        inputs=_tensors_from_pb(m.inputs),
        outputs=_tensors_from_pb(m.outputs),
        stop_reason=m.stop_reason,
        reference_outputs_npz=bytes(m.reference_outputs_npz),
        telemetry_summary=json.loads(m.telemetry_summary_json) if m.telemetry_summary_json else {},
        warnings=list(m.warnings),
        soak_windows=json.loads(m.soak_windows_json) if m.soak_windows_json else [],
        compile_cache_hit=m.compile_cache_hit,
        op_profile=_profile_from_pb(m.op_profile) if m.HasField("op_profile") else None,
        load=_load_result_from_pb(m.load),
        host_load=_host_load_from_pb(m.host_load),
    )


def result_to_bytes(r: JobResult) -> bytes:
    """A result as its serialized wire message: how the worker hands it to the agent."""
    return result_to_pb(r).SerializeToString()


def result_from_bytes(data: bytes) -> JobResult:
    return result_from_pb(pb.JobResult.FromString(data))


def event_to_pb(e: JobEvent) -> pb.JobEvent:
    msg = pb.JobEvent(job_id=e.job_id, seq=e.seq, replayed=e.replayed)
    b = e.body
    if isinstance(b, Progress):
        msg.progress.CopyFrom(
            pb.Progress(phase=b.phase, iterations=b.iterations, elapsed_ns=b.elapsed_ns)
        )
    elif isinstance(b, TelemetryBatch):
        msg.telemetry.CopyFrom(
            pb.TelemetryBatch(
                samples=[
                    pb.TelemetrySample(t_ns=s.t_ns, sensor=s.sensor, metric=s.metric, value=s.value)
                    for s in b.samples
                ],
                gaps=[
                    pb.TelemetryGap(t_ns=g.t_ns, source=g.source, reason=g.reason) for g in b.gaps
                ],
            )
        )
    elif isinstance(b, JobResult):
        msg.result.CopyFrom(result_to_pb(b))
    elif isinstance(b, JobFailure):
        msg.error.CopyFrom(pb.JobError(kind=b.kind.value, message=b.message))
    elif isinstance(b, ResultPart):
        msg.result_part.CopyFrom(pb.ResultPart(data=b.data, total_bytes=b.total_bytes))
    elif isinstance(b, PartsEnd):
        msg.result.CopyFrom(pb.JobResult(from_parts=True))
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown event body {type(b).__name__}")
    return msg


def event_from_pb(m: pb.JobEvent) -> JobEvent:
    kind = m.WhichOneof("event")
    body: Any
    if kind == "progress":
        body = Progress(m.progress.phase, m.progress.iterations, m.progress.elapsed_ns)
    elif kind == "telemetry":
        body = TelemetryBatch(
            samples=tuple(
                TelemetryPoint(s.t_ns, s.sensor, s.metric, s.value) for s in m.telemetry.samples
            ),
            gaps=tuple(TelemetryGapInfo(g.t_ns, g.source, g.reason) for g in m.telemetry.gaps),
        )
    elif kind == "result":
        body = PartsEnd() if m.result.from_parts else result_from_pb(m.result)
    elif kind == "result_part":
        body = ResultPart(bytes(m.result_part.data), m.result_part.total_bytes)
    elif kind == "error":
        failure = FailureKind.parse(m.error.kind)
        message = m.error.message
        if failure.value != m.error.kind:
            message = internal_message(f"the agent sent failure kind {m.error.kind!r}: {message}")
        body = JobFailure(failure, message)
    else:
        body = JobFailure(
            FailureKind.INTERNAL, internal_message("agent sent an event with no body")
        )
    return JobEvent(job_id=m.job_id, seq=m.seq, body=body, replayed=m.replayed)


def result_parts(r: JobResult, part_bytes: int = PART_BYTES) -> list[ResultPart] | None:
    """A result too large for one message, cut into parts; None when it fits in one."""
    data = result_to_pb(r).SerializeToString()
    if len(data) <= part_bytes:
        return None
    return [
        ResultPart(data[i : i + part_bytes], len(data)) for i in range(0, len(data), part_bytes)
    ]


class ResultAssembler:
    """Joins ResultPart events back into the JobResult they were cut from.

    Fed every event of a job in order; returns the event to hand on, or None for a part.
    Parts followed by a failure instead of their end (the agent's disk filled up while it
    spooled them) are dropped: a half-sent result never becomes one.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, e: JobEvent) -> JobEvent | None:
        b = e.body
        if isinstance(b, ResultPart):
            self._parts.append(b.data)
            return None
        if isinstance(b, PartsEnd):
            data, self._parts = b"".join(self._parts), []
            msg = pb.JobResult()
            try:
                msg.ParseFromString(data)
            except Exception as err:  # protobuf's DecodeError; anything else is as bad
                return replace(
                    e,
                    body=JobFailure(
                        FailureKind.AGENT_RESTARTED,
                        f"the result's parts did not join into a result ({len(data)} bytes: "
                        f"{err}); measuring again",
                    ),
                )
            return replace(e, body=result_from_pb(msg))
        if e.is_terminal:
            self._parts = []
        return e


def description_to_pb(d: DeviceDescription) -> pb.DeviceDescription:
    return pb.DeviceDescription(
        agent_version=d.agent_version,
        protocol_version=d.protocol_version,
        hostname=d.hostname,
        cpu_model=d.cpu_model,
        cpu_cores_logical=d.cpu_cores_logical,
        cpu_cores_physical=d.cpu_cores_physical,
        memory_bytes=d.memory_bytes,
        os=d.os,
        kernel=d.kernel,
        arch=d.arch,
        python_version=d.python_version,
        runtimes=[
            pb.RuntimeInfo(
                name=r.name, version=r.version, providers=list(r.providers), module=r.module
            )
            for r in d.runtimes
        ],
        sensors=[
            pb.SensorInfo(
                source=s.source,
                status=s.status,
                detail=s.detail,
                sensors=s.sensors,
                update_period_s=s.update_period_s or 0.0,
                simulated=s.simulated,
            )
            for s in d.sensors
        ],
        simulated=d.simulated,
        fingerprint=d.fingerprint,
        busy_job_id=d.busy_job_id,
        emulation=pb.Emulation(**d.emulation.__dict__) if d.emulation else None,
        absent_runtimes=d.absent_runtimes,
        sensor_settings={
            source: pb.SensorSettings(values=values)
            for source, values in d.sensor_settings.items()
        },
    )


def description_from_pb(m: pb.DeviceDescription) -> DeviceDescription:
    return DeviceDescription(
        agent_version=m.agent_version,
        protocol_version=m.protocol_version,
        hostname=m.hostname,
        cpu_model=m.cpu_model,
        cpu_cores_logical=m.cpu_cores_logical,
        cpu_cores_physical=m.cpu_cores_physical,
        memory_bytes=m.memory_bytes,
        os=m.os,
        kernel=m.kernel,
        arch=m.arch,
        python_version=m.python_version,
        runtimes=[
            RuntimeDescription(r.name, r.version, tuple(r.providers), r.module) for r in m.runtimes
        ],
        sensors=[
            SensorSummary(
                s.source,
                s.status,
                s.detail,
                list(s.sensors),
                s.update_period_s or None,
                s.simulated,
            )
            for s in m.sensors
        ],
        simulated=m.simulated,
        fingerprint=dict(m.fingerprint),
        busy_job_id=m.busy_job_id,
        emulation=_emulation_from_pb(m.emulation) if m.HasField("emulation") else None,
        absent_runtimes=list(m.absent_runtimes),
        sensor_settings={
            source: dict(s.values) for source, s in sorted(m.sensor_settings.items())
        },
    )


def _emulation_from_pb(m: pb.Emulation) -> Emulation:
    return Emulation(m.emulator, m.host_arch, m.interpreter, m.cpu_model, m.evidence)
