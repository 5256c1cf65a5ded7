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
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigbench import limits
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
from rigbench.controller.store.db import Store
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
        limits.ROUNDS.at_least(1).check("--rounds", self.rounds, PlanError)
        if self.max_rounds is not None:
            limits.ROUNDS.at_least(1).check("--max-rounds", self.max_rounds, PlanError)
        limits.DURATION_S.check("--round-s", self.round_s, PlanError)
        if self.seed is not None:
            limits.SEED.check("--seed", self.seed, PlanError)
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
    load_avg_1m: float | None = None  # the highest of either job's readings
    other_cpu_share: float | None = None  # the larger of the two jobs'
    steal_share: float | None = None

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

    @property
    def host(self) -> HostNoise:
        return host_noise(self.rounds)


def compare_measurement(s: CompareSettings) -> MeasurementConfig:
    """Every job measures the same fixed time after the same warm-up: no early stop."""
    return MeasurementConfig(
        warmup_iterations=s.warmup_iterations,
        warmup_s=s.warmup_s,
        min_iterations=10,
        max_iterations=int(limits.ITERATIONS.maximum),  # the time decides, not the count
        min_duration_s=s.round_s,
        max_duration_s=s.round_s,
        ci_target_rel_width=0.0,
    )


@dataclass
class PairPlan:
    """One A/B pair to measure: a ``compare``, or one series of a nightly."""

    key: str  # the pair's name: "compare", or a nightly series' job key
    device: Device
    a: Subject
    b: Subject
    scenario: str = ""  # prefix of the rounds' scenario names (a nightly series' scenario)
    baseline_run: str | None = None  # a nightly pair: the run A's artifact was measured in


@dataclass
class PairOutcome:
    """The rounds of one pair and the verdict on them."""

    plan: PairPlan
    rounds: list[RoundResult] = field(default_factory=list)
    verdict: PairedVerdict | None = None
    problems: list[str] = field(default_factory=list)  # the farm lost rounds: no verdict
    failure_kinds: set[str] = field(default_factory=set)  # error kinds of the jobs that failed
    noisy: str | None = None  # still inconclusive after the last stage: why, for people

    @property
    def host(self) -> HostNoise:
        return host_noise(self.rounds)


def _round_jobs(
    run_id: str,
    plan: PairPlan,
    prepared: dict[Side, PreparedModel],
    orders: Sequence[tuple[Side, Side]],
    settings: CompareSettings,
    first: int = 1,
) -> list[PlannedJob]:
    measurement = compare_measurement(settings)
    device = plan.device
    jobs: list[PlannedJob] = []
    width = len(str(settings.limit))
    for i, order in enumerate(orders, start=first):
        scenario = Scenario(
            name=f"{plan.scenario}{'.' if plan.scenario else ''}round-{i:0{width}d}"
        )
        for side in order:
            subject, pm = (plan.a if side == "A" else plan.b), prepared[side]
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
        "SELECT job_id, p50_ns, iterations, greatest(load_avg_1m_start, load_avg_1m_end) AS la, "
        "other_cpu_share, steal_share FROM results WHERE job_id IN "
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
                _largest(a, b, "la"),
                _largest(a, b, "other_cpu_share"),
                _largest(a, b, "steal_share"),
            )
        )
    return out


def _largest(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    values = [r[key] for r in (a, b) if r and r[key] is not None]
    return max(values) if values else None


@dataclass(frozen=True)
class HostNoise:
    """What the device's own counters said about the rounds (None: not measured)."""

    load_avg_1m_max: float | None
    other_cpu_share_median: float | None
    steal_share_max: float | None

    def describe(self) -> str:
        parts = []
        if self.load_avg_1m_max is not None:
            parts.append(f"load average up to {self.load_avg_1m_max:.1f}")
        if self.other_cpu_share_median is not None:
            parts.append(f"other processes used {self.other_cpu_share_median:.0%} of its CPUs")
        if self.steal_share_max:
            parts.append(f"the hypervisor stole up to {self.steal_share_max:.0%}")
        return ", ".join(parts) if parts else "its load was not measured"


def host_noise(rounds: Sequence[RoundResult]) -> HostNoise:
    def values(attr: str) -> list[float]:
        return [v for r in rounds if (v := getattr(r, attr)) is not None]

    la, other, steal = values("load_avg_1m"), values("other_cpu_share"), values("steal_share")
    return HostNoise(
        max(la) if la else None,
        float(sorted(other)[len(other) // 2]) if other else None,
        max(steal) if steal else None,
    )


def _pick_device(inventory: Inventory, name: str | None, a: Subject, b: Subject) -> Device:
    if name:
        return inventory.get(name)
    stored = a.device or b.device
    if stored and stored in inventory.names():
        return inventory.get(stored)
    return inventory.devices[0]


def _device_problems(outcome: RunOutcome) -> dict[str, list[str]]:
    """Devices the farm lost as a whole: unreachable or quarantined."""
    out: dict[str, list[str]] = {}
    for d, why in outcome.unreachable:
        out.setdefault(d, []).append(f"device {d}: unreachable: {why}")
    for d in outcome.quarantined:
        out.setdefault(d, []).append(f"device {d}: quarantined after repeated failures")
    return out


def _failed_jobs(store: Store, jobs: Sequence[PlannedJob]) -> dict[str, tuple[str, str]]:
    """Why each job that failed failed, by job id."""
    rows = store.query(
        "SELECT job_id, error_kind, error_message FROM jobs WHERE status = 'failed' "
        "AND job_id IN (SELECT unnest(?::VARCHAR[]))",
        [[j.job_id for j in jobs]],
    )
    return {r["job_id"]: (str(r["error_kind"]), str(r["error_message"])) for r in rows}


_JOB_ID = re.compile(r"job \S+: ")  # the same failure of every round reads as one


def _summarize(problems: Iterable[str]) -> list[str]:
    """Each distinct problem once, with how many jobs had it."""
    counts: dict[str, int] = {}
    for p in problems:
        counts[p] = counts.get(p, 0) + 1
    return [p if n == 1 else f"{p} ({n} jobs)" for p, n in counts.items()]


def _verdict(outcome: PairOutcome, settings: CompareSettings) -> PairedVerdict | None:
    """The verdict over every complete round; None (a problem noted) when there are too few.

    With a problem (rounds lost to the farm) a verdict from the rounds that did complete is
    still given for context; the pair's problems keep it from counting.
    """
    ratios = [r.ratio for r in outcome.rounds if r.ratio is not None]
    try:
        return paired_verdict(ratios, settings.min_effect, settings.alpha_per_look)
    except ValueError as e:
        if not outcome.problems:
            outcome.problems.append(f"device {outcome.plan.device.name}: {e}")
        return None


async def measure_pairs(
    run_id: str,
    plans: Sequence[PairPlan],
    store: Store,
    work: Path,
    settings: CompareSettings,
    progress: ProgressPrinter,
    seed: int,
) -> dict[str, PairOutcome]:
    """Measure every pair in stages of rounds; the run ``run_id`` must have begun.

    All pairs' rounds of a stage are dispatched together (devices in parallel, one job at a
    time per device, each pair's rounds back to back); a pair takes part in the next stage only
    while its verdict is inconclusive. A pair whose rounds the farm lost gets problems instead.
    """
    outcomes = {p.key: PairOutcome(p) for p in plans}
    prepared: dict[str, dict[Side, PreparedModel]] = {}
    for p in plans:
        prepared[p.key] = {"A": p.a.prepare(work, store), "B": p.b.prepare(work, store)}
    jobs: dict[str, list[PlannedJob]] = {p.key: [] for p in plans}
    orders: dict[str, list[tuple[Side, Side]]] = {p.key: [] for p in plans}
    active = list(plans)
    stage = 0
    while active:
        stage_jobs: list[PlannedJob] = []
        for p in active:
            done = len(orders[p.key])
            stage_orders = round_orders(min(settings.rounds, settings.limit - done), seed + stage)
            pj = _round_jobs(run_id, p, prepared[p.key], stage_orders, settings, first=done + 1)
            jobs[p.key] += pj
            orders[p.key] += stage_orders
            stage_jobs += pj
        store.record_jobs([j.record(run_id) for j in stage_jobs])
        outcome = await Dispatcher(store, run_id, work, progress, retries=1).run(stage_jobs)
        lost = _device_problems(outcome)
        failed = _failed_jobs(store, stage_jobs)
        stage += 1
        still: list[PairPlan] = []
        for p in active:
            o = outcomes[p.key]
            o.rounds = _rounds_from_store(store, jobs[p.key], orders[p.key])
            o.problems += lost.get(p.device.name, [])
            mine = [(j, failed[j.job_id]) for j in jobs[p.key] if j.job_id in failed]
            o.failure_kinds |= {kind for _, (kind, _) in mine}
            o.problems += _summarize(
                f"device {p.device.name}: {j.model.name}/{j.variant.name}: {kind}: "
                + _JOB_ID.sub("", msg)
                for j, (kind, msg) in mine
            )
            o.verdict = _verdict(o, settings)
            if (
                not o.problems
                and o.verdict is not None
                and o.verdict.change is Change.INCONCLUSIVE
                and len(orders[p.key]) < settings.limit
            ):
                progress.info(
                    f"{p.key}: {len(orders[p.key])} rounds are too spread to decide "
                    f"({o.verdict.reason}); measuring more"
                )
                still.append(p)
        active = still
    for o in outcomes.values():
        if o.verdict is not None and o.verdict.change is Change.INCONCLUSIVE and not o.problems:
            o.noisy = (
                f"device {o.plan.device.name} too noisy to decide after {len(o.rounds)} "
                f"rounds: {o.host.describe()}"
            )
    return outcomes


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
    try:
        outcomes = await measure_pairs(
            run_id, [PairPlan("compare", device, a, b)], store, work, settings, progress, seed
        )
    except BaseException as e:
        store.finish_run(run_id, "failed", note=str(e)[:500])
        raise
    o = outcomes["compare"]
    result.rounds, result.verdict = o.rounds, o.verdict
    result.problems = o.problems + ([o.noisy] if o.noisy else [])
    store.finish_run(run_id, "finished" if not o.problems else "finished-with-errors")
    result.elapsed_s = time.monotonic() - t0
    return result
