"""Measure A and B in randomized interleaved rounds on one device, then judge B against A.

Rounds come in stages of ``rounds``: after each stage the verdict is taken over every round so
far, and only an *inconclusive* one (rounds too spread to decide) asks for another stage, up to
``max_rounds``. One round spoilt by a neighbour's burst widens the interval of ten rounds a
lot and of twenty rounds little, so a busy device pays with time rather than with a wrong or
missing verdict. Each look at the data gets ``alpha / looks`` (Bonferroni), so an A/A pair is
called slower with probability at most ``alpha`` over all looks together.

Every round is two jobs back to back, A and B in the round's random order (``schedule.py``),
each a fresh worker process on the agent (the agent runs every job in one): a fresh process
puts what differs between processes (memory layout, the core it lands on, the allocator's
state) into the round-to-round spread, where the paired interval accounts for it, instead of
letting one lucky or unlucky process decide. Each job measures for the same time after the
same warm-up, and its median is the round's figure for that side. The jobs are stored as a run
of kind ``compare`` (with the seed that drew the order), so the rounds can be read back.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigbench.agent.jobs import JobSpec, MeasurementConfig, TelemetryConfig
from rigbench.controller.compare.paired import Change, PairedVerdict, min_rounds, paired_verdict
from rigbench.controller.compare.schedule import Side, round_orders
from rigbench.controller.compare.subjects import Subject
from rigbench.controller.dispatch import (
    Dispatcher,
    PlannedJob,
    RunOutcome,
    job_id_for,
    lease_holder,
    new_run_id,
)
from rigbench.controller.inventory import Device, Inventory
from rigbench.controller.plan import Scenario
from rigbench.controller.prepare import PreparedModel
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store.db import JobRecord, Store
from rigbench.errors import PlanError

DEFAULT_ROUNDS = 10
DEFAULT_ROUND_S = 1.0
DEFAULT_WARMUP = 20


@dataclass(frozen=True)
class CompareSettings:
    rounds: int = DEFAULT_ROUNDS  # rounds per stage
    max_rounds: int | None = None  # more stages while inconclusive, up to this (default 3x)
    min_effect: float = 0.03
    alpha: float = 0.01  # "slower" on an A/A pair at most this often, over all looks
    round_s: float = DEFAULT_ROUND_S  # measured time of each job
    warmup_iterations: int = DEFAULT_WARMUP
    warmup_s: float = 0.2
    seed: int | None = None  # the order's seed; None draws one (and stores it)

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.limit < self.rounds:
            raise PlanError(
                f"--rounds {self.rounds} and --max-rounds {self.limit}: need "
                "1 <= rounds <= max rounds"
            )
        need = min_rounds(self.alpha_per_look)
        if self.rounds < need:
            raise PlanError(
                f"--rounds {self.rounds}: at least {need} rounds are needed for a "
                f"{1 - 2 * self.alpha_per_look:.1%} interval of the paired ratio "
                f"({self.looks} look(s) up to --max-rounds {self.limit})"
            )
        if not 0 <= self.min_effect < 1:
            raise PlanError(f"--min-effect must be between 0 and 100 %, got {self.min_effect:.1%}")
        if self.round_s <= 0:
            raise PlanError(f"--round-s must be positive, got {self.round_s}")

    @property
    def limit(self) -> int:
        return self.max_rounds if self.max_rounds is not None else 3 * self.rounds

    @property
    def looks(self) -> int:
        """How many times the verdict may be taken: once per stage."""
        return -(-self.limit // self.rounds)

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks


@dataclass(frozen=True)
class RoundResult:
    """One round: both sides' medians in the order they ran."""

    index: int
    order: tuple[Side, Side]
    a_p50_ns: float | None
    b_p50_ns: float | None
    a_iterations: int = 0
    b_iterations: int = 0

    @property
    def ratio(self) -> float | None:
        if self.a_p50_ns and self.b_p50_ns:
            return self.b_p50_ns / self.a_p50_ns
        return None


@dataclass
class CompareResult:
    run_id: str
    device: str
    a: Subject
    b: Subject
    settings: CompareSettings
    seed: int
    rounds: list[RoundResult] = field(default_factory=list)
    verdict: PairedVerdict | None = None
    problems: list[str] = field(default_factory=list)  # why there is no verdict: exit 2
    elapsed_s: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 same or faster, 1 slower, 2 no verdict (the farm failed or was too noisy)."""
        if self.verdict is None or self.problems:
            return 2
        return {"slower": 1, "inconclusive": 2}.get(self.verdict.change.value, 0)


def compare_measurement(s: CompareSettings) -> MeasurementConfig:
    """Every job measures the same fixed time after the same warm-up: no early stop."""
    return MeasurementConfig(
        warmup_iterations=s.warmup_iterations,
        warmup_s=s.warmup_s,
        min_iterations=10,
        max_iterations=2**31 - 1,
        min_duration_s=s.round_s,
        max_duration_s=s.round_s,
        ci_target_rel_width=0.0,
    )


def _round_jobs(
    run_id: str,
    device: Device,
    prepared: dict[Side, tuple[Subject, PreparedModel]],
    orders: Sequence[tuple[Side, Side]],
    settings: CompareSettings,
    first: int = 1,
) -> list[PlannedJob]:
    measurement = compare_measurement(settings)
    jobs: list[PlannedJob] = []
    width = len(str(settings.limit))
    for i, order in enumerate(orders, start=first):
        scenario = Scenario(name=f"round-{i:0{width}d}")
        for side in order:
            subject, pm = prepared[side]
            variant = pm.variants[0]
            key = f"{device.name}/{pm.name}/{variant.name}/{subject.runtime.name}/{scenario.name}"
            jid = job_id_for(run_id, key)
            spec = JobSpec(
                job_id=jid,
                artifact_sha256=variant.sha256,
                model_format=variant.format,
                runtime=subject.runtime.config(),
                inputs=subject.overrides,
                inputs_npz_sha256=pm.inputs_npz[0] if pm.inputs_npz else "",
                measurement=measurement,
                telemetry=TelemetryConfig(enabled=False),
                label=key,
                lease_holder=lease_holder(run_id),
                lease_ttl_s=device.lease_ttl_s,
            )
            jobs.append(PlannedJob(jid, key, device, pm, variant, subject.runtime, scenario, spec))
    return jobs


def _rounds_from_store(
    store: Store, jobs: Sequence[PlannedJob], orders: Sequence[tuple[Side, Side]]
) -> list[RoundResult]:
    rows = store.query(
        "SELECT job_id, p50_ns, iterations FROM results WHERE job_id IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [[j.job_id for j in jobs]],
    )
    by_id = {r["job_id"]: r for r in rows}
    out: list[RoundResult] = []
    for i, order in enumerate(orders):
        pair = {side: jobs[2 * i + k] for k, side in enumerate(order)}
        a, b = by_id.get(pair["A"].job_id), by_id.get(pair["B"].job_id)
        out.append(
            RoundResult(
                i + 1,
                order,
                a["p50_ns"] if a else None,
                b["p50_ns"] if b else None,
                int(a["iterations"]) if a else 0,
                int(b["iterations"]) if b else 0,
            )
        )
    return out


def _pick_device(inventory: Inventory, name: str | None, a: Subject, b: Subject) -> Device:
    if name:
        return inventory.get(name)
    stored = a.device or b.device
    if stored and stored in inventory.names():
        return inventory.get(stored)
    return inventory.devices[0]


def _problems(outcome: RunOutcome, device: str) -> list[str]:
    problems = [f"device {d}: unreachable: {why}" for d, why in outcome.unreachable]
    problems += [f"device {d}: quarantined after repeated failures" for d in outcome.quarantined]
    problems += [f"device {device}: {label}: {kind}: {msg}" for label, kind, msg in outcome.failed]
    return problems


async def run_compare(
    a: Subject,
    b: Subject,
    inventory: Inventory,
    store: Store,
    work: Path,
    settings: CompareSettings,
    progress: ProgressPrinter,
    device_name: str | None = None,
    context: dict[str, Any] | None = None,
) -> CompareResult:
    """Prepare both sides, measure rounds in stages, store them, and judge B against A."""
    t0 = time.monotonic()
    device = _pick_device(inventory, device_name, a, b)
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    run_id = new_run_id()
    name = f"compare {a.label} vs {b.label}"
    description = {
        "name": name,
        "a": a.label,
        "b": b.label,
        "device": device.name,
        "rounds": settings.rounds,
        "max_rounds": settings.limit,
        "seed": seed,
        "min_effect": settings.min_effect,
        "alpha": settings.alpha,
        "round_s": settings.round_s,
    }
    store.begin_run(run_id, "compare", name, json.dumps(description), None)
    result = CompareResult(run_id, device.name, a, b, settings, seed, context=context or {})
    progress.info(
        f"compare {run_id}: {a.label} (A) vs {b.label} (B) on {device.name}, "
        f"interleaved rounds of {settings.round_s:g} s per side, {settings.rounds} at a time "
        f"(up to {settings.limit} while the rounds disagree)"
    )
    jobs: list[PlannedJob] = []
    orders: list[tuple[Side, Side]] = []
    try:
        prepared: dict[Side, tuple[Subject, PreparedModel]] = {
            "A": (a, a.prepare(work, store)),
            "B": (b, b.prepare(work, store)),
        }
        stage = 0
        while True:
            count = min(settings.rounds, settings.limit - len(orders))
            stage_orders = round_orders(count, seed + stage)
            stage_jobs = _round_jobs(
                run_id, device, prepared, stage_orders, settings, first=len(orders) + 1
            )
            store.record_jobs([_job_record(run_id, j) for j in stage_jobs])
            outcome = await Dispatcher(store, run_id, work, progress, retries=1).run(stage_jobs)
            jobs += stage_jobs
            orders += stage_orders
            stage += 1
            result.problems = _problems(outcome, device.name)
            if result.problems:
                break
            result.rounds = _rounds_from_store(store, jobs, orders)
            result.verdict = _verdict(result, settings)
            if (
                result.verdict is None
                or result.verdict.change is not Change.INCONCLUSIVE
                or len(orders) >= settings.limit
            ):
                break
            progress.info(
                f"compare {run_id}: {len(orders)} rounds are too spread to decide "
                f"({result.verdict.reason}); measuring more"
            )
    except BaseException as e:
        store.finish_run(run_id, "failed", note=str(e)[:500])
        raise
    store.finish_run(run_id, "finished" if not result.problems else "finished-with-errors")
    result.rounds = _rounds_from_store(store, jobs, orders)
    result.verdict = _verdict(result, settings)
    result.elapsed_s = time.monotonic() - t0
    return result


def _verdict(result: CompareResult, settings: CompareSettings) -> PairedVerdict | None:
    """The verdict over every complete round; None (a problem noted) when there are too few.

    With a problem (rounds lost to the farm) a verdict from the rounds that did complete is
    still given for context, and the exit code stays 2.
    """
    ratios = [r.ratio for r in result.rounds if r.ratio is not None]
    try:
        return paired_verdict(ratios, settings.min_effect, settings.alpha_per_look)
    except ValueError as e:
        if not result.problems:
            result.problems.append(f"device {result.device}: {e}")
        return None


def _job_record(run_id: str, j: PlannedJob) -> JobRecord:
    return JobRecord(
        j.job_id,
        run_id,
        j.job_key,
        j.device.name,
        j.model.name,
        j.variant.name,
        j.variant.sha256,
        j.runtime.name,
        j.runtime.runtime,
        j.scenario.name,
        json.dumps(j.spec.to_json_dict()),
    )
