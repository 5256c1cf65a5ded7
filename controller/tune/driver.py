"""Run the race on real devices: every trial a normal job of a run of kind ``tune``.

One asyncio task per device, one trial at a time per device (as ``run`` does); each device
has its own race and its own budget. The dispatcher is ``run``'s: the same connection,
retries, failure kinds and store writer, so ``results``, ``rank`` and the report see every
trial. A trial's job id comes from the run id, the device, the configuration and the rung,
so ``rigbench tune --resume RUN_ID`` finds the trials already stored and replays them into a
new race (which then asks for exactly those trials again) instead of measuring them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import InputOverride, JobResult, JobSpec
from rigbench.controller.connect import connect
from rigbench.controller.dispatch import (
    Dispatcher,
    PlannedJob,
    job_id_for,
    lease_holder,
    new_run_id,
    record_prepare_failures,
)
from rigbench.controller.inventory import Device, Inventory
from rigbench.controller.plan import Plan, RuntimeEntry, Scenario
from rigbench.controller.prepare import PreparedModel, prepare_model
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store.db import JobRecord, Store
from rigbench.controller.store.tune import StoredTrial, stored_trials
from rigbench.controller.tune.config import Config
from rigbench.controller.tune.evidence import Trial
from rigbench.controller.tune.objectives import ObjectiveName, objective_for
from rigbench.controller.tune.race import (
    Constraints,
    Race,
    RaceOutcome,
    RacePolicy,
    TrialRequest,
)
from rigbench.controller.tune.space import (
    DeviceFacts,
    Narrowing,
    Space,
    build_space,
    describe_space,
)
from rigbench.errors import (
    AgentUnreachableError,
    DeviceBusyError,
    PlanError,
    ProtocolMismatchError,
    RigbenchError,
)
from rigbench.failures import Blame, FailureKind

SCENARIO = Scenario()  # trials are single-stream


@dataclass
class TuneRequest:
    """What to tune, where, and within what."""

    plan: Plan  # exactly one model; its measurement and telemetry settings are the trials'
    inventory: Inventory
    store: Store
    work: Path
    budget_s: float  # device seconds per device
    objective: ObjectiveName = ObjectiveName.latency
    constraints: Constraints = field(default_factory=Constraints)
    narrowing: Narrowing = field(default_factory=Narrowing)
    policy: RacePolicy = field(default_factory=RacePolicy)
    device_names: list[str] | None = None
    resume_run_id: str | None = None


@dataclass
class DeviceTune:
    """One device's tune: its space, its race's outcome, or why it could not be tuned."""

    device: Device
    space: Space | None = None
    outcome: RaceOutcome | None = None
    error: str | None = None
    simulated: bool = False
    emulated: bool = False


@dataclass
class TuneResult:
    run_id: str
    plan: Plan
    model: PreparedModel
    request: TuneRequest
    devices: list[DeviceTune]
    prepare_failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: a recommendation on every device; 1: none on some device although it was
        measured (every configuration failed, or none meets the constraints); 2: a device
        could not be tuned at all (unreachable, quarantined) or measured nothing.
        """
        if any(d.error or d.outcome is None or not d.outcome.spent_s for d in self.devices):
            return 2
        return 0 if all(d.outcome and d.outcome.recommended for d in self.devices) else 1


def runtime_entry(config: Config) -> dict[str, Any]:
    """The plan's runtime entry that runs ``config`` (as ``tuned.yaml`` writes it).

    A knob that is a field of a runtime entry (``graph_optimization``) goes there; any other
    knob goes under ``options:``.
    """
    entry: dict[str, Any] = {"name": config.name, "runtime": config.runtime}
    if config.provider:
        entry["providers"] = [config.provider]
    if config.threads:
        entry["threads"] = config.threads
    options = {}
    for knob, value in config.settings:
        if knob in RuntimeEntry.model_fields and knob not in ("name", "runtime", "options"):
            entry[knob] = value
        else:
            options[knob] = value
    if options:
        entry["options"] = options
    return entry


def accuracy_key(config: Config) -> str:
    """Accuracy is measured once per variant and the kernels that run it (runtime, provider):
    thread counts and scheduling knobs do not change what is computed.
    """
    return f"{config.variant}/{config.runtime}/{config.provider}"


class TuneDispatcher(Dispatcher):
    """``run``'s dispatcher, driven by one race per device instead of a fixed list of jobs."""

    def __init__(
        self, req: TuneRequest, run_id: str, model: PreparedModel, progress: ProgressPrinter
    ):
        super().__init__(req.store, run_id, req.work, progress, req.plan.retries)
        self.req = req
        self.model = model
        self._results: dict[str, tuple[JobResult, dict[str, Any], list[dict[str, Any]]]] = {}
        self._replay: dict[str, StoredTrial] = {}

    async def tune(self, devices: Sequence[Device]) -> list[DeviceTune]:
        # What this run already stored (nothing, unless it is resumed): read before any
        # device is connected, so a store that cannot be read fails before anything runs.
        self._replay = stored_trials(self.store, self.run_id)
        tunes = [DeviceTune(d) for d in devices]
        async with self.writer.running():
            await asyncio.gather(*(self._tune_device(t) for t in tunes))
        self.outcome.stored = self.writer.stored
        return tunes

    def _on_stored(
        self, job: PlannedJob, result: JobResult, row: dict[str, Any], acc: list[dict[str, Any]]
    ) -> None:
        self._results[job.job_id] = (result, row, acc)

    async def _tune_device(self, tune: DeviceTune) -> None:
        device = tune.device
        wait_note = functools.partial(self._note, device.name)
        try:
            async with connect(device, self.work, on_wait=wait_note) as conn:
                try:
                    desc = await self._describe(conn)
                    tune.simulated, tune.emulated = desc.simulated, desc.emulated
                    facts = DeviceFacts.from_description(device.name, desc.to_dict())
                    formats = {v.name: v.format for v in self.model.variants}
                    tune.space = build_space(facts, formats, self.req.narrowing)
                    self.progress.info(f"[{device.name}] {describe_space(tune.space)}")
                    for line in tune.space.left_out:
                        self.progress.info(f"[{device.name}] left out: {line}")
                    race = Race(
                        tune.space.configs,
                        self.req.budget_s,
                        objective_for(self.req.objective, device.cost, desc.simulated),
                        self.req.constraints,
                        self.req.policy,
                        accuracy_key,
                    )
                    try:
                        await self._race(conn, device, race)
                    finally:
                        tune.outcome = race.outcome()
                finally:
                    await self._release(conn)
        except (AgentUnreachableError, ProtocolMismatchError, DeviceBusyError) as e:
            tune.error = str(e)
            self.outcome.unreachable.append((device.name, str(e)))
            self.progress.info(f"[{device.name}] unreachable: {e}")
            # A failed job of the run on that device, as `run` records one: `rigbench runs`
            # and the store say why the device has no trials.
            key = f"{device.name}/{self.model.name}/*"
            job_id = job_id_for(self.run_id, key)
            self.writer.record_jobs(
                [
                    JobRecord(
                        job_id,
                        self.run_id,
                        key,
                        device.name,
                        self.model.name,
                        "*",
                        "",
                        "*",
                        "*",
                        "*",
                        "{}",
                    )
                ]
            )
            kind = FailureKind.BUSY if isinstance(e, DeviceBusyError) else FailureKind.UNREACHABLE
            self._mark(job_id, "failed", error_kind=kind, error_message=str(e))

    async def _race(self, conn: Any, device: Device, race: Race) -> None:
        strikes = 0
        while (request := race.next_trial()) is not None:
            job = self._planned(device, request)
            stored = self._replay.get(job.job_id)
            if stored is not None and stored.status in ("done", "failed"):
                trial = _replayed(request, stored, job.job_id)
                if trial is not None:
                    race.tell(trial)
                    continue
            self.writer.record_jobs([job.record(self.run_id)])
            start = time.monotonic()
            kind = await self._job_with_retries(conn, job)
            cost_s = time.monotonic() - start
            got = self._results.pop(job.job_id, None)
            if got is not None:
                strikes = 0
                race.tell(_measured(request, got, cost_s, job.job_id))
                continue
            kind = kind or FailureKind.INTERNAL
            message = next((m for _, k, m in reversed(self.outcome.failed) if k is kind), "")
            own = kind.blame is Blame.MODEL
            strikes = 0 if own else strikes + 1
            race.tell(
                Trial(
                    request.config,
                    request.rung,
                    cost_s,
                    request.duration_s,
                    failure=f"{kind.describe()}: {message}"
                    + ("" if own else " (not the configuration's own failure)"),
                    job_id=job.job_id,
                )
            )
            if not own and kind.strikes and strikes >= 3:
                self.outcome.quarantined.append(device.name)
                race.stop(f"the device failed {strikes} trials in a row ({kind.describe()})")

    def _planned(self, device: Device, request: TrialRequest) -> PlannedJob:
        config, model, plan = request.config, self.model, self.req.plan
        variant = next(v for v in model.variants if v.name == config.variant)
        rt = RuntimeEntry.model_validate(runtime_entry(config))
        key = f"{device.name}/{model.name}/{config.key}/rung{request.rung}"
        job_id = job_id_for(self.run_id, key)
        entry = next(m for m in plan.models if m.name == model.name)
        overrides = tuple(
            InputOverride(n, tuple(s.shape) if s.shape else None, s.dtype, s.value)
            for n, s in entry.inputs.items()
        )
        measurement = dataclasses.replace(
            plan.measurement.config(),
            min_iterations=1,
            min_duration_s=request.duration_s,
            max_duration_s=request.duration_s,
            ci_target_rel_width=0.0,
        )
        wants_accuracy = request.accuracy and model.accuracy.wanted
        spec = JobSpec(
            job_id=job_id,
            artifact_sha256=variant.sha256,
            model_format=variant.format,
            runtime=rt.config(),
            inputs=overrides,
            inputs_npz_sha256=model.inputs_npz[0] if model.inputs_npz else "",
            measurement=measurement,
            telemetry=plan.telemetry.config(),
            soak=SCENARIO.soak(),
            reference_inputs_sha256=(
                model.reference_inputs[0] if model.reference_inputs and wants_accuracy else ""
            ),
            label=key,
            lease_holder=lease_holder(self.run_id),
            lease_ttl_s=device.lease_ttl_s,
        )
        return PlannedJob(
            job_id, key, device, model, variant, rt, SCENARIO, spec, measure_accuracy=wants_accuracy
        )


def _accuracy(acc: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    overall = next((a for a in acc if a.get("output") == "*"), None)
    if overall is None:
        return None, None
    err = overall.get("max_abs_err")
    if err is None:
        return None, overall.get("unknown_reason") or "not measured"
    return float(err), None


def _measured(
    request: TrialRequest,
    got: tuple[JobResult, dict[str, Any], list[dict[str, Any]]],
    cost_s: float,
    job_id: str,
) -> Trial:
    result, row, acc = got
    error, unknown = _accuracy(acc) if request.accuracy else (None, None)
    power_mw = row.get("avg_power_mw")
    return Trial(
        request.config,
        request.rung,
        cost_s,
        request.duration_s,
        latencies_ns=np.asarray(result.latencies_ns, dtype=np.float64),
        power_w=power_mw / 1000.0 if power_mw is not None else None,
        error=error,
        error_unknown=unknown if request.accuracy and error is None else None,
        job_id=job_id,
    )


def _replayed(request: TrialRequest, stored: StoredTrial, job_id: str) -> Trial | None:
    """The stored trial as the race needs it (None: it must be measured again)."""
    cost_s = stored.cost_s if stored.cost_s is not None else request.duration_s
    if stored.status == "failed":
        kind = FailureKind.parse(stored.error_kind) if stored.error_kind else None
        if kind is None or kind.blame is not Blame.MODEL:
            return None  # a farm failure: measure it again
        return Trial(
            request.config,
            request.rung,
            cost_s,
            request.duration_s,
            failure=f"{kind.describe()}: {stored.error_message or ''}",
            job_id=job_id,
        )
    if stored.latencies_ns is None:
        return None
    error, unknown = None, None
    if request.accuracy and stored.accuracy_asked:
        error = stored.max_abs_err
        unknown = None if error is not None else (stored.accuracy_unknown or "not measured")
    return Trial(
        request.config,
        request.rung,
        cost_s,
        request.duration_s,
        latencies_ns=stored.latencies_ns,
        power_w=stored.avg_power_w,
        error=error,
        error_unknown=unknown,
        job_id=job_id,
    )


def reference_runtimes() -> list[Any]:
    """A runtime configuration per registered runtime and provider, so that the model's
    references are made for every kernel family a trial may run on.
    """
    from rigbench.agent.jobs import RuntimeConfig
    from rigbench.agent.runtimes import descriptors

    return [
        RuntimeConfig(runtime=d.name, providers=(p,))
        for d in descriptors().values()
        for p in d.providers
    ]


async def execute_tune(req: TuneRequest, progress: ProgressPrinter) -> TuneResult:
    """Prepare the model, race every device in parallel, and close the run in the store."""
    plan, store = req.plan, req.store
    sel = plan.devices
    try:
        devices = req.inventory.select(req.device_names or sel.names, sel.tags, sel.classes)
    except RigbenchError as e:
        raise PlanError(f"tune: {e}") from e
    if not devices:
        raise PlanError(f"no device selected (devices: {', '.join(req.inventory.names())})")
    if req.resume_run_id:
        run_id = req.resume_run_id
        store.finish_run(run_id, "running")
    else:
        run_id = new_run_id()
        store.begin_run(run_id, "tune", plan.name, plan.model_dump_json(), plan.digest())
    progress.info(
        f"run {run_id}: tuning on {len(devices)} device(s), {req.budget_s:g} s of device time each"
    )
    try:
        entry = plan.models[0]
        progress.info(f"preparing model {entry.name} ...")
        model = prepare_model(entry, req.work, store, reference_runtimes())
        for variant, why in model.failures:
            progress.info(f"model {model.name}, variant {variant}: not compiled: {why}")
        for variant, why in model.same_as:
            progress.info(f"model {model.name}, variant {variant}: not measured: {why}")
        record_prepare_failures(store, run_id, [model])
        if not model.variants:
            raise PlanError(f"model {model.name!r}: no variant could be compiled")
        dispatcher = TuneDispatcher(req, run_id, model, progress)
        tunes = await dispatcher.tune(devices)
    except BaseException as e:
        status = (
            "interrupted"
            if isinstance(e, (KeyboardInterrupt, asyncio.CancelledError))
            else "failed"
        )
        store.finish_run(run_id, status, note=str(e)[:500])
        raise
    result = TuneResult(run_id, plan, model, req, tunes, list(model.failures))
    store.finish_run(run_id, "finished" if result.exit_code == 0 else "finished-with-errors")
    return result
