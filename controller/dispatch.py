"""Run a plan: expand it into jobs, drive every device in parallel, store every result once.

One asyncio task per device, one job at a time per device; a device's failure never blocks
another. Every failure has a kind (``rigbench.failures``) whose policy decides what happens:
farm failures (agent unreachable or restarted, a full disk) are retried with backoff and a
device that keeps failing that way is quarantined for the rest of the run; a model's own
failure is recorded with the runtime's words, never retried and never held against the
device; a rigbench bug says so. A local agent that dies mid-run is started again before the
retry. When a device's jobs are over its lease is released, so the next controller starts at
once. Results finished before any failure are already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.describe import DeviceDescription
from rigbench.agent.jobs import (
    InputOverride,
    JobFailure,
    JobResult,
    JobSpec,
    Progress,
    TelemetryBatch,
)
from rigbench.controller.connect import Connection, check_agent_settings, connect
from rigbench.controller.inventory import Device, Inventory
from rigbench.controller.plan import Plan, RuntimeEntry, Scenario
from rigbench.controller.prepare import (
    PreparedModel,
    PreparedVariant,
    load_reference_outputs,
    prepare_model,
)
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import queries
from rigbench.controller.store.db import DeviceRecord, JobMark, JobRecord, ResultRecord, Store, now
from rigbench.controller.store.latency import host_load_columns, latency_stats
from rigbench.controller.store.load import load_record
from rigbench.controller.store.writer import BatchWriter
from rigbench.errors import (
    AgentCredentialsError,
    AgentSettingsError,
    AgentUnreachableError,
    ArtifactMissingError,
    DeviceBusyError,
    JobNotFoundError,
    PlanError,
    ProtocolMismatchError,
    RigbenchError,
    StoreError,
)
from rigbench.failures import FailureKind, exit_code, trim_message

log = logging.getLogger("rigbench.controller")

QUARANTINE_AFTER = 3  # farm failures in a row (of kinds that count) before a device is skipped
# A port that refuses at once (nothing listens) is asked this many times, with a short backoff,
# before the device is called unreachable: a restarting agent gets a moment, a dead one does
# not cost connect_timeout_s.
REFUSED_TRIES = 4
REFUSED_BACKOFF_S = 0.25


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


@dataclass
class PlannedJob:
    job_id: str
    job_key: str
    device: Device
    model: PreparedModel
    variant: PreparedVariant
    runtime: RuntimeEntry
    scenario: Scenario
    spec: JobSpec
    # False: the job's spec asks for no reference outputs, and no accuracy row is stored
    # (``rigbench tune`` measures a variant's accuracy once per device and kernels).
    measure_accuracy: bool = True

    def record(self, run_id: str) -> JobRecord:
        """The job's row as the store keeps it (run, tune and compare record jobs alike)."""
        return JobRecord(
            self.job_id,
            run_id,
            self.job_key,
            self.device.name,
            self.model.name,
            self.variant.name,
            self.variant.sha256,
            self.runtime.name,
            self.runtime.runtime,
            self.scenario.name,
            json.dumps(self.spec.to_json_dict()),
        )

    @property
    def label(self) -> str:
        return f"{self.model.name}/{self.variant.name} on {self.runtime.name}" + (
            f" [{self.scenario.name}]" if self.scenario.kind != "single-stream" else ""
        )


@dataclass
class RunOutcome:
    run_id: str
    stored: int = 0
    # (job label, kind, message)
    failed: list[tuple[str, FailureKind, str]] = field(default_factory=list)
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (device, why)
    quarantined: list[str] = field(default_factory=list)
    skipped_existing: int = 0
    events: int = 0  # events received from agents

    @property
    def farm_failed(self) -> bool:
        return bool(self.unreachable or self.quarantined)

    @property
    def exit_code(self) -> int:
        """0 every job done; 1 a job failed for the model's own reasons; 2 the farm failed."""
        return exit_code([k for _, k, _ in self.failed], self.farm_failed)


class _Stored:
    """A job's result is stored."""


_STORED = _Stored()
Outcome = _Stored | tuple[FailureKind, str]  # what following a job's events came to


async def _refused(address: str) -> bool:
    """Does ``host:port`` refuse a TCP connection at once (nothing listens there)?

    gRPC reports a refused port and a slow one alike (UNAVAILABLE); the socket says which.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return False
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), timeout=2.0
        )
    except ConnectionRefusedError:
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return False


def _reason(e: Exception) -> str:
    """The last error's own words, without the address the message already names."""
    text = str(e)
    return text.split(": ", 1)[1] if text.startswith("agent at ") and ": " in text else text


def lease_holder(run_id: str) -> str:
    """Who holds a device: the run (so a resumed run is the same holder), and where from."""
    return f"run {run_id} from {socket.gethostname()}"


def job_id_for(run_id: str, job_key: str) -> str:
    return f"{run_id}.{hashlib.sha256(job_key.encode()).hexdigest()[:12]}"


def expand_jobs(
    run_id: str, plan: Plan, devices: Sequence[Device], models: Sequence[PreparedModel]
) -> list[PlannedJob]:
    """Every (device, model variant, runtime, scenario) whose runtime takes the variant's format."""
    jobs: list[PlannedJob] = []
    entries = {m.name: m for m in plan.models}
    for device in devices:
        for pm in models:
            entry = entries[pm.name]
            overrides = tuple(
                InputOverride(n, tuple(s.shape) if s.shape else None, s.dtype, s.value)
                for n, s in entry.inputs.items()
            )
            for variant in pm.variants:
                for rt in plan.runtimes:
                    if variant.format not in rt.formats:
                        continue
                    for sc in plan.scenarios:
                        key = f"{device.name}/{pm.name}/{variant.name}/{rt.name}/{sc.name}"
                        jid = job_id_for(run_id, key)
                        spec = JobSpec(
                            job_id=jid,
                            artifact_sha256=variant.sha256,
                            model_format=variant.format,
                            runtime=rt.config(),
                            inputs=overrides,
                            inputs_npz_sha256=pm.inputs_npz[0] if pm.inputs_npz else "",
                            measurement=plan.measurement.config(),
                            telemetry=plan.telemetry.config(),
                            soak=sc.soak(),
                            load=sc.load(),
                            reference_inputs_sha256=(
                                pm.reference_inputs[0] if pm.reference_inputs else ""
                            ),
                            label=key,
                            lease_holder=lease_holder(run_id),
                            lease_ttl_s=device.lease_ttl_s,
                            companions=variant.artifact_files(),
                        )
                        jobs.append(PlannedJob(jid, key, device, pm, variant, rt, sc, spec))
    return jobs


def _json(v: Any) -> str | None:
    return json.dumps(v) if v is not None else None


def result_row(
    job: PlannedJob, run_id: str, result: JobResult, simulated: bool, emulated: bool = False
) -> dict[str, Any]:
    lat = np.asarray(result.latencies_ns, dtype=np.int64)
    st = latency_stats(lat, result.measure_end_ns - result.measure_start_ns)
    tel = result.telemetry_summary or {}
    batch = next((t.shape[0] for t in result.inputs if t.shape), None)
    load = result.load
    if load is not None:  # the headline point's: its batch, and samples (not requests) per s
        batch = load.points[load.headline].batch
        if st.throughput_ips is not None:
            st = dataclasses.replace(st, throughput_ips=st.throughput_ips * batch)
    return {
        "job_id": job.job_id,
        "run_id": run_id,
        "device": job.device.name,
        "model": job.model.name,
        "variant": job.variant.name,
        "runtime": result.runtime,
        "runtime_name": job.runtime.name,
        "runtime_version": result.runtime_version,
        "providers_used": ",".join(result.providers_used),
        "scenario": job.scenario.name,
        "batch_size": int(batch) if batch is not None else None,
        **st.columns(),
        **host_load_columns(result.host_load),
        "load_ns": result.load_ns,
        "compile_ns": result.compile_ns,
        "compile_cache_hit": result.compile_cache_hit,
        "first_inference_ns": result.first_inference_ns,
        "peak_rss_bytes": result.peak_rss_bytes,
        "rss_before_load_bytes": result.rss_before_load_bytes,
        "measure_start_ns": result.measure_start_ns,
        "measure_end_ns": result.measure_end_ns,
        "stop_reason": result.stop_reason,
        "warnings_json": json.dumps(result.warnings + list(job.variant.warnings)),
        "inputs_json": json.dumps(
            [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in result.inputs]
        ),
        "avg_power_mw": tel.get("avg_power_mw"),
        "idle_power_mw": tel.get("idle_power_mw"),
        "energy_per_inference_mj": tel.get("energy_per_inference_mj"),
        "dynamic_energy_per_inference_mj": tel.get("dynamic_energy_per_inference_mj"),
        "energy_source": tel.get("energy_source"),
        "energy_coverage": tel.get("energy_coverage"),
        "peak_temp_mc": tel.get("peak_temp_mc"),
        "throttled": tel.get("throttled"),
        "throttle_reasons_json": _json(tel.get("throttle_reasons")),
        "telemetry_json": _json(tel) if tel else None,
        "soak_windows_json": _json(result.soak_windows) if result.soak_windows else None,
        "simulated": simulated or bool(tel.get("simulated")),
        "emulated": emulated,
        "created_at": now(),
        "scenario_kind": job.scenario.kind,
        "load_point": load.headline if load is not None else None,
    }


def _figures(o: Any) -> dict[str, Any]:
    return {
        "max_abs_err": o.max_abs_err,
        "mean_abs_err": o.mean_abs_err,
        "cosine_similarity": o.cosine_similarity,
        "max_rel_err": o.max_rel_err,
        "snr_db": o.snr_db,
        "top1_agreement": o.top1_agreement,
        "top5_agreement": o.top5_agreement,
        "n_samples": o.n_samples,
        "within_tolerance": o.within_tolerance,
        "reasons": "; ".join(o.reasons) if o.reasons else None,
    }


def accuracy_rows(job: PlannedJob, result: JobResult) -> list[dict[str, Any]]:
    """Per-output rows and the overall ('*') row comparing the device's outputs with the source's.

    When the model's accuracy was asked for but no figure can be made (no reference for this
    job's kernels, no outputs returned, outputs that do not line up), the '*' row says so in
    ``unknown_reason``: unknown is stored as unknown, never as an absent row that reads as fine.
    """
    from rigbench.controller.accuracy import kernel_family
    from rigbench.controller.accuracy.metrics import compare
    from rigbench.controller.accuracy.task import score

    ma = job.model.accuracy
    if not ma.wanted or not job.measure_accuracy:
        return []
    tolerance_json = json.dumps(ma.tolerances.to_dict()) if ma.tolerances else None
    family = kernel_family(job.model.source_format, job.runtime.config())
    reference, why = ma.reference(family)
    if reference is not None and not result.reference_outputs_npz:
        reference, why = None, "the job returned no outputs for the reference inputs"
    report = None
    if reference is not None:
        try:
            report = compare(
                reference,
                load_reference_outputs(result.reference_outputs_npz),
                ma.kinds,
                ma.tolerances if ma.tolerances else None,
            )
        except RigbenchError as e:
            why = f"outputs cannot be compared with the source's: {e}"
    if report is None:
        return [
            {
                "output": "*",
                "unknown_reason": why,
                "tolerance_json": tolerance_json,
                "kernel_family": family,
            }
        ]
    rows = [
        {**_figures(o), "output": o.name, "kind": o.kind, "kind_source": o.kind_source or None}
        for o in report.outputs
    ]
    overall = {
        **_figures(report),
        "output": "*",
        "tolerance_json": tolerance_json,
        "kernel_family": family,
        "kind_source": "guess" if report.topk_guessed else None,
    }
    if ma.labels is not None or ma.metric:
        mine = score(
            load_reference_outputs(result.reference_outputs_npz),
            ma.labels or [None] * report.n_samples,
            ma.class_output,
            ma.metric,
        )
        ref = ma.reference_task.get(family)
        overall.update(
            task_top1=mine.top1,
            task_top5=mine.top5,
            task_metric=mine.metric,
            task_metric_name=mine.metric_name,
            ref_task_top1=ref.top1 if ref else None,
            ref_task_top5=ref.top5 if ref else None,
            ref_task_metric=ref.metric if ref else None,
            n_labelled=mine.n_labelled,
        )
        if mine.note:
            result.warnings.append(f"task accuracy: {mine.note}")
    rows.append(overall)
    return rows


class Dispatcher:
    def __init__(
        self,
        store: Store,
        run_id: str,
        work: Path,
        progress: ProgressPrinter,
        retries: int = 2,
        backoff_s: float = 1.0,
    ):
        self.store = store
        self.run_id = run_id
        self.work = work
        self.progress = progress
        self.retries = retries
        self.backoff_s = backoff_s
        self.outcome = RunOutcome(run_id)
        self.writer = BatchWriter(store)
        self._state: dict[str, tuple[int, bool]] = {}
        self._done: set[str] = set()
        # Per device: devices run concurrently, so one shared flag would let the last
        # device described label every device's results simulated (or not).
        self._simulated: dict[str, bool] = {}
        self._emulated: dict[str, bool] = {}  # the agent runs under qemu-user (or the like)

    async def run(self, jobs: Sequence[PlannedJob]) -> RunOutcome:
        by_device: dict[str, list[PlannedJob]] = {}
        for j in jobs:
            by_device.setdefault(j.device.name, []).append(j)
        self._state = self._job_state([j.job_id for j in jobs])
        self.progress.planned(
            {
                name: sum(1 for j in js if not self._state.get(j.job_id, (0, False))[1])
                for name, js in by_device.items()
            }
        )
        try:
            async with self.writer.running():
                await asyncio.gather(*(self._device(js[0].device, js) for js in by_device.values()))
        except StoreError as e:
            raise StoreError(
                f"{e}. Results not yet stored are kept in the agents' spools: "
                f"`rigbench run --resume {self.run_id}` stores them without measuring again"
            ) from e
        self.outcome.stored = self.writer.stored
        return self.outcome

    def _job_state(self, job_ids: list[str]) -> dict[str, tuple[int, bool]]:
        """(attempts, has a result) of every job, read once before dispatching."""
        return queries.job_attempts(self.store, job_ids)

    def _mark(
        self,
        job_id: str,
        status: str,
        attempts: int | None = None,
        error_kind: FailureKind | None = None,
        error_message: str | None = None,
    ) -> None:
        kind = error_kind.value if error_kind is not None else None
        self.writer.mark(JobMark(job_id, status, attempts, kind, error_message))

    async def _device(self, device: Device, jobs: list[PlannedJob]) -> None:
        pending = [j for j in jobs if not self._stored(j.job_id)]
        self.outcome.skipped_existing += len(jobs) - len(pending)
        if not pending:
            return
        wait_note = functools.partial(self._note, device.name)
        try:
            async with connect(device, self.work, on_wait=wait_note) as conn:
                try:
                    await self._describe(conn)
                    await self._jobs(conn, pending)
                finally:
                    await self._release(conn)
        except (
            AgentUnreachableError,
            ProtocolMismatchError,
            AgentSettingsError,
            DeviceBusyError,
        ) as e:
            kind = FailureKind.BUSY if isinstance(e, DeviceBusyError) else FailureKind.UNREACHABLE
            self.outcome.unreachable.append((device.name, str(e)))
            self.progress.info(f"[{device.name}] unreachable: {e}")
            for job in pending:
                if job.job_id not in self._done:
                    self._mark(job.job_id, "failed", error_kind=kind, error_message=str(e))

    def _note(self, device: str, text: str) -> None:
        self.progress.info(f"[{device}] {text}")

    async def _jobs(self, conn: Connection, pending: list[PlannedJob]) -> None:
        """Run a device's jobs in order; quarantine it after repeated farm failures."""
        device = conn.device
        strikes = 0
        for job in pending:
            failure = await self._job_with_retries(conn, job)
            if failure is None or not failure.strikes:
                strikes = 0 if failure is None else strikes
                continue
            strikes += 1
            if strikes >= QUARANTINE_AFTER:
                self.outcome.quarantined.append(device.name)
                self.progress.info(
                    f"[{device.name}] quarantined after {strikes} farm failures in a row; "
                    "its remaining jobs are skipped"
                )
                for rest in pending[pending.index(job) + 1 :]:
                    self._mark(
                        rest.job_id,
                        "failed",
                        error_kind=FailureKind.QUARANTINED,
                        error_message=f"device {device.name} quarantined after {strikes} farm "
                        "failures in a row",
                    )
                return

    async def _release(self, conn: Connection) -> None:
        """End this run's lease on the device, so the next controller need not wait for it
        to lapse. Runs on the way out of an error or Ctrl-C too; never raises.
        """
        try:
            await asyncio.shield(conn.client.release(lease_holder(self.run_id), timeout_s=3.0))
        except (RigbenchError, asyncio.CancelledError) as e:
            log.debug("[%s] lease not released: %s", conn.device.name, e)

    def _stored(self, job_id: str) -> bool:
        return self._state.get(job_id, (0, False))[1]

    async def _describe(self, conn: Connection) -> DeviceDescription:
        """Wait until the agent answers Describe: that answer is the check before dispatch.

        One served Describe proves the port, the credentials and the rigbench service at
        once, in one round trip (a separate health check cost every device another one).
        An agent that is still starting is asked again until ``connect_timeout_s``; one that
        refuses the credentials is not.
        """
        loop = asyncio.get_running_loop()
        timeout = conn.device.connect_timeout_s
        deadline = loop.time() + timeout
        refused = 0
        while True:
            try:
                desc = await conn.client.describe(
                    timeout_s=min(5.0, max(0.5, deadline - loop.time()))
                )
                break
            except AgentCredentialsError:
                raise
            except AgentUnreachableError as e:
                refused = refused + 1 if await _refused(conn.client.address) else 0
                if refused >= REFUSED_TRIES:
                    raise AgentUnreachableError(
                        f"device {conn.device.name}: nothing listens at {conn.client.address} "
                        f"(connection refused, {refused} tries); is its agent running?"
                    ) from e
                if loop.time() >= deadline:
                    raise AgentUnreachableError(
                        f"device {conn.device.name}: no answer from {conn.client.address} "
                        f"within {timeout:g} s (connect_timeout_s): {_reason(e)}"
                    ) from e
                await asyncio.sleep(REFUSED_BACKOFF_S * 2 ** min(refused, 3) if refused else 0.5)
        d = conn.device
        check_agent_settings(d, desc)
        self.writer.device(
            DeviceRecord(
                self.run_id,
                d.name,
                d.device_class,
                tuple(d.tags),
                d.transport,
                desc.to_dict(),
                d.cost.model_dump() if d.cost else None,
            )
        )
        self._simulated[d.name] = desc.simulated
        self._emulated[d.name] = desc.emulated
        return desc

    async def _job_with_retries(self, conn: Connection, job: PlannedJob) -> FailureKind | None:
        """Run one job until it is stored or fails for good; returns None when stored, else
        the kind of its last failure (whose policy says whether it counts against the device).
        """
        attempts = self._attempts(job.job_id)
        if attempts > 0:
            resumed = await self._try_resume(conn, job, attempts)
            if resumed is not None:
                return None if isinstance(resumed, _Stored) else resumed
        loop = asyncio.get_running_loop()
        wait_until = loop.time() + job.device.wait_timeout_s
        evicted_once = False
        retries_left = self.retries
        while True:
            attempts += 1
            self._mark(job.job_id, "running", attempts=attempts)
            self.progress.job_started(job.device.name, job.label, attempts)
            try:
                spec = dataclasses.replace(job.spec, job_id=f"{job.job_id}.a{attempts}")
                await conn.client.ensure_artifacts(job.model.files())
                got = await self._consume(job, conn.client.run(spec, job.device.job_timeout_s))
                if isinstance(got, _Stored):
                    return None
                kind, message = got
            except DeviceBusyError as e:
                # Another controller holds the device: waiting is not a failed attempt, and has
                # its own deadline apart from the job's.
                if loop.time() < wait_until:
                    self.progress.info(f"[{job.device.name}] waiting: {e}")
                    await asyncio.sleep(min(5.0, max(0.2, wait_until - loop.time())))
                    attempts -= 1
                    continue
                kind = FailureKind.BUSY
                message = f"gave up waiting after {job.device.wait_timeout_s:g} s: {e}"
            except ArtifactMissingError as e:
                if not evicted_once:
                    # The agent's cache evicted an artifact we thought it had: upload again.
                    evicted_once = True
                    conn.client.forget_artifacts()
                    attempts -= 1
                    continue
                kind, message = e.failure_kind, trim_message(str(e))
            except RigbenchError as e:
                kind, message = e.failure_kind, trim_message(str(e))
            retrying = kind.retry and retries_left > 0
            if not retrying:
                self._fail(job, kind, message)
                return kind
            self.progress.job_failed(job.device.name, job.label, kind.describe(), message, True)
            await asyncio.sleep(self.backoff_s * 2 ** (self.retries - retries_left))
            retries_left -= 1
            await self._recover(conn)

    async def _recover(self, conn: Connection) -> None:
        """Before a retry: start a local agent again if it died, else wait for the agent to
        answer its health check (a moment when nothing listens, connect_timeout_s at most).
        """
        if conn.local_agent_died:
            self.progress.info(f"[{conn.device.name}] the local agent died; starting it again")
            try:
                await conn.restart_local()
            except RigbenchError as e:
                self.progress.info(f"[{conn.device.name}] the local agent did not restart: {e}")
            return
        await self._wait_healthy(conn)

    async def _wait_healthy(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + conn.device.connect_timeout_s
        refused = 0
        while loop.time() < deadline:
            if await conn.client.check_health(timeout_s=2.0):
                return
            refused = refused + 1 if await _refused(conn.client.address) else 0
            if refused >= REFUSED_TRIES:
                return  # nothing listens: the retry fails at once and says so
            await asyncio.sleep(0.5)

    def _attempts(self, job_id: str) -> int:
        return self._state.get(job_id, (0, False))[0]

    async def _try_resume(
        self, conn: Connection, job: PlannedJob, attempts: int
    ) -> _Stored | FailureKind | None:
        """Re-attach to the last attempt's spool. ``_STORED`` when its result is stored now,
        a kind when it failed for good, None when it must run (again).
        """
        agent_job = f"{job.job_id}.a{attempts}"
        try:
            got = await self._consume(
                job, conn.client.attach(agent_job, 0, job.device.job_timeout_s)
            )
        except (JobNotFoundError, AgentUnreachableError):
            return None
        if isinstance(got, _Stored):
            self.progress.info(f"[{job.device.name}] {job.label}: re-attached to {agent_job}")
            return got
        kind, message = got
        if kind.retry:
            return None
        self._fail(job, kind, message)
        return kind

    async def _consume(self, job: PlannedJob, events: Any) -> Outcome:
        """Follow a job's events; ``_STORED`` when its result is stored, else the failure."""
        telemetry: list[tuple[int, str, str, float]] = []
        gaps: list[tuple[int, str, str]] = []
        async for ev in events:
            self.outcome.events += 1
            b = ev.body
            if isinstance(b, Progress):
                self.progress.job_progress(
                    job.device.name, job.label, b.phase, b.iterations, b.elapsed_ns
                )
            elif isinstance(b, TelemetryBatch):
                telemetry.extend((s.t_ns, s.sensor, s.metric, s.value) for s in b.samples)
                gaps.extend((g.t_ns, g.source, g.reason) for g in b.gaps)
            elif isinstance(b, JobResult):
                if job.spec.load.is_load and b.load is None:
                    return FailureKind.PROVIDER, (
                        f"the agent on {job.device.name} returned a single-stream result for a "
                        f"{job.spec.load.kind} job: it predates offline and server scenarios; "
                        "upgrade it (rigbench agent install)"
                    )
                if ev.replayed:
                    self.progress.info(
                        f"[{job.device.name}] {job.label}: result replayed from the agent's "
                        "spool (measured earlier, not measured again)"
                    )
                self._store(job, b, telemetry, gaps)
                return _STORED
            elif isinstance(b, JobFailure):
                return b.kind, trim_message(b.message)
        return (
            FailureKind.AGENT_RESTARTED,
            "the agent's event stream ended before the job did (the agent stopped or lost it)",
        )

    def _store(
        self,
        job: PlannedJob,
        result: JobResult,
        telemetry: list[tuple[int, str, str, float]],
        gaps: list[tuple[int, str, str]],
    ) -> None:
        try:
            acc = accuracy_rows(job, result)
        except RigbenchError as e:  # e.g. the user's task metric: accuracy is then unknown
            result.warnings.append(f"accuracy not computed: {e}")
            acc = [{"output": "*", "unknown_reason": f"accuracy not computed: {e}"}]
        name = job.device.name
        simulated, emulated = self._simulated.get(name, False), self._emulated.get(name, False)
        row = result_row(job, self.run_id, result, simulated, emulated)
        self.writer.add(
            ResultRecord(
                row,
                np.asarray(result.latencies_ns, dtype=np.int64),
                telemetry,
                gaps,
                acc,
                result.op_profile,
                load_record(job.job_id, result.load) if result.load is not None else None,
            )
        )
        self._done.add(job.job_id)
        self._on_stored(job, result, row, acc)
        p50 = row["p50_ns"] / 1e6
        acc_txt = ""
        overall = next((a for a in acc if a["output"] == "*"), None)
        if overall and overall.get("unknown_reason"):
            acc_txt = f", accuracy unknown: {overall['unknown_reason']}"
        elif overall and overall.get("max_abs_err") is not None:
            acc_txt = (
                f", max abs err {overall['max_abs_err']:.3g}, max rel err "
                f"{overall['max_rel_err']:.3g}, SNR {overall['snr_db']:.1f} dB"
            )
            if overall.get("within_tolerance") is False:
                acc_txt += f" (outside tolerance: {overall['reasons']})"
        self.progress.job_done(
            job.device.name,
            job.label,
            f"p50 {p50:.3f} ms over {row['iterations']} iterations{acc_txt}",
        )

    def _on_stored(
        self, job: PlannedJob, result: JobResult, row: dict[str, Any], acc: list[dict[str, Any]]
    ) -> None:
        """A job's result is on its way to the store (``rigbench tune`` reads it here)."""

    def _fail(self, job: PlannedJob, kind: FailureKind, message: str) -> None:
        self._mark(job.job_id, "failed", error_kind=kind, error_message=message)
        self.outcome.failed.append((f"{job.device.name}: {job.label}", kind, message))
        self.progress.job_failed(job.device.name, job.label, kind.describe(), message, False)


def record_prepare_failures(store: Store, run_id: str, models: Sequence[PreparedModel]) -> None:
    """A variant that could not be compiled is a failed job of the run, on no device; one the
    quantizer left unchanged is a skipped job, with the variant it is the same as.
    """
    records = []
    for pm in models:
        for variant, _why in [*pm.failures, *pm.same_as]:
            key = f"*/{pm.name}/{variant}"
            records.append(
                JobRecord(
                    job_id_for(run_id, key),
                    run_id,
                    key,
                    "*",
                    pm.name,
                    variant,
                    pm.source_sha256,
                    "*",
                    "*",
                    "*",
                    "{}",
                )
            )
    store.record_jobs(records)
    for pm in models:
        for variant, why in pm.failures:
            store.mark_job(
                job_id_for(run_id, f"*/{pm.name}/{variant}"),
                "failed",
                error_kind=FailureKind.COMPILE.value,
                error_message=why,
            )
        for variant, why in pm.same_as:
            store.mark_job(
                job_id_for(run_id, f"*/{pm.name}/{variant}"),
                "skipped",
                error_kind="same-as-parent",
                error_message=why,
            )


@dataclass
class RunRequest:
    plan: Plan
    inventory: Inventory
    store: Store
    work: Path
    kind: str = "run"
    resume_run_id: str | None = None
    device_names: list[str] | None = None


async def execute_plan(req: RunRequest, progress: ProgressPrinter) -> RunOutcome:
    """Prepare models, expand jobs, dispatch them, and close the run in the store."""
    plan, store = req.plan, req.store
    sel = plan.devices
    names = req.device_names or sel.names
    try:
        devices = req.inventory.select(names, sel.tags, sel.classes)
    except RigbenchError as e:
        raise PlanError(f"plan {plan.name!r}: {e}") from e
    if not devices:
        raise PlanError(
            f"plan {plan.name!r} selects no device from the inventory "
            f"(devices: {', '.join(req.inventory.names())})"
        )
    if req.resume_run_id:
        run_id = req.resume_run_id
        store.finish_run(run_id, "running")
    else:
        run_id = new_run_id()
        store.begin_run(run_id, req.kind, plan.name, plan.model_dump_json(), plan.digest())
    progress.info(f"run {run_id}: plan {plan.name!r} on {len(devices)} device(s)")
    try:
        models = []
        prepare_failures: list[tuple[str, FailureKind, str]] = []
        for entry in plan.models:
            progress.info(f"preparing model {entry.name} ...")
            pm = prepare_model(entry, req.work, store, [r.config() for r in plan.runtimes])
            models.append(pm)
            for note in pm.notes:
                progress.info(f"model {pm.name}: {note}")
            for variant, why in pm.same_as:
                progress.info(f"model {pm.name}, variant {variant}: not measured: {why}")
            for variant, why in pm.failures:
                progress.info(f"model {pm.name}, variant {variant}: not compiled: {why}")
                prepare_failures.append((f"{pm.name}/{variant}", FailureKind.COMPILE, why))
        if plan.measurement.rotate_inputs:
            for pm in models:
                if pm.variants and pm.reference_inputs is None:
                    raise PlanError(
                        f"model {pm.name!r}: measurement.rotate_inputs needs prepared inputs to "
                        "rotate through: give the model a dataset or accuracy.samples > 0"
                    )
        record_prepare_failures(store, run_id, models)
        jobs = expand_jobs(run_id, plan, devices, models)
        if not jobs and not prepare_failures:
            raise PlanError(f"plan {plan.name!r}: no runtime takes any of the variants' formats")
        store.record_jobs([j.record(run_id) for j in jobs])
        outcome = await Dispatcher(store, run_id, req.work, progress, plan.retries).run(jobs)
        outcome.failed[:0] = prepare_failures
    except BaseException as e:
        status = (
            "interrupted"
            if isinstance(e, (KeyboardInterrupt, asyncio.CancelledError))
            else "failed"
        )
        store.finish_run(run_id, status, note=str(e)[:500])
        raise
    status = (
        "finished" if not outcome.farm_failed and not outcome.failed else "finished-with-errors"
    )
    store.finish_run(run_id, status)
    return outcome
