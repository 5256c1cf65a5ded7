"""One night: canary, plan, pairs, comparison, verdict in the store, reports on disk.

The canary runs first, as its own run (kind ``canary``), on every device the plan selects; only
devices that pass it run the plan (kind ``nightly``), so an unhealthy device's numbers never
enter the history, and a device whose canary ran much slower than usual (or whose CPUs the
hypervisor stole) is noisy tonight. Then each series is measured in pairs, tonight's artifact
against its baseline night's, interleaved on the same device (kind ``pairs``,
``pairs.py``); the run is compared with its baselines, latency on the pairs, the verdicts
are kept in ``nightly_checks`` and the reports are written: ``summary.md``, ``junit.xml``,
``trends.html`` and ``nightly.json``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from rigbench.controller.baseline import trends
from rigbench.controller.compare.runner import PairOutcome, PairPlan, measure_pairs
from rigbench.controller.dispatch import RunRequest, execute_plan, new_run_id
from rigbench.controller.inventory import Device, Inventory
from rigbench.controller.nightly.canary import (
    SpeedPolicy,
    canary_health,
    canary_plan,
    canary_speed,
)
from rigbench.controller.nightly.evaluate import (
    Night0,
    NightlyReport,
    decide_night,
    prepare_night,
    record_checks,
)
from rigbench.controller.nightly.pairs import PairSettings, plan_pair
from rigbench.controller.nightly.placement import placement_checks
from rigbench.controller.nightly.verdicts import Policy
from rigbench.controller.plan import Plan
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import queries
from rigbench.controller.store.db import Store
from rigbench.errors import PlanError, RigbenchError
from rigbench.reports.junit import render_junit
from rigbench.reports.nightly_markdown import render_markdown
from rigbench.reports.trends import render_trends


@dataclass
class NightlyOptions:
    """How tonight is compared, and where the reports go."""

    out_dir: Path
    baseline_runs: int = 7
    pin: str | None = None
    policy: Policy = field(default_factory=Policy)
    trend_nights: int = 30
    pairs: PairSettings = field(default_factory=PairSettings)
    speed: SpeedPolicy = field(default_factory=SpeedPolicy)


@dataclass
class NightlyResult:
    report: NightlyReport
    files: dict[str, Path]


def write_reports(
    store: Store, report: NightlyReport, out_dir: Path, nights: int
) -> dict[str, Path]:
    """Write the four report files; returns them by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "markdown": out_dir / "summary.md",
        "junit": out_dir / "junit.xml",
        "html": out_dir / "trends.html",
        "json": out_dir / "nightly.json",
    }
    files["markdown"].write_text(render_markdown(report))
    files["junit"].write_text(render_junit(report))
    assert report.started_at is not None
    history = trends(store, report.plan_name, report.started_at, nights)
    files["html"].write_text(render_trends(report, history))
    files["json"].write_text(report.to_json() + "\n")
    return files


async def run_nightly(
    plan: Plan,
    inventory: Inventory,
    store: Store,
    work: Path,
    options: NightlyOptions,
    progress: ProgressPrinter,
) -> NightlyResult:
    """Run the canary and the plan, compare, record and write the reports."""
    if options.pin:
        queries.run_info(store, options.pin)  # fail before measuring anything
    sel = plan.devices
    try:
        selected = inventory.select(sel.names, sel.tags, sel.classes)
    except RigbenchError as e:
        raise PlanError(f"plan {plan.name!r}: {e}") from e
    if not selected:
        raise PlanError(
            f"plan {plan.name!r} selects no device from the inventory "
            f"(devices: {', '.join(inventory.names())})"
        )
    names = [d.name for d in selected]
    progress.info(f"nightly {plan.name!r}: canary on {len(names)} device(s)")
    canary = await execute_plan(
        RunRequest(canary_plan(plan), inventory, store, work, kind="canary"), progress
    )
    health = canary_health(store, canary, names)
    for h in health.values():
        progress.info(f"[{h.device}] canary: {'passed' if h.healthy else 'FAILED'}: {h.message}")
    healthy = [d for d in selected if health[d.name].healthy]
    if healthy:
        outcome = await execute_plan(
            RunRequest(
                plan,
                Inventory(devices=healthy),
                store,
                work,
                kind="nightly",
                device_names=[d.name for d in healthy],
            ),
            progress,
        )
        run_id = outcome.run_id
    else:
        run_id = new_run_id()
        store.begin_run(run_id, "nightly", plan.name, plan.model_dump_json(), plan.digest())
        store.finish_run(run_id, "failed", note="no device passed the canary")
    noisy = canary_speed(store, canary.run_id, names, options.speed)
    noisy.update(_steal(store, run_id, options.speed.max_steal, noisy))
    for device, why in noisy.items():
        progress.info(f"[{device}] noisy tonight: {why}")
        health[device] = replace(health[device], noisy=why)
    n0 = prepare_night(
        store,
        run_id,
        options.policy,
        options.baseline_runs,
        options.pin,
        health,
        set(names),
    )
    pairs, pairs_run_id, unpaired = await _measure_pairs(
        n0, plan, {d.name: d for d in healthy}, store, work, options, progress
    )
    report = decide_night(n0, pairs, pairs_run_id, unpaired)
    report.comparisons += placement_checks(store, report)  # its own verdict, apart
    record_checks(store, report)
    files = write_reports(store, report, options.out_dir, options.trend_nights)
    return NightlyResult(report, files)


def _steal(
    store: Store, run_id: str, max_steal: float, already: dict[str, str]
) -> dict[str, str]:
    """Devices whose plan jobs tonight lost more than ``max_steal`` of the CPUs to steal."""
    rows = store.query(
        "SELECT device, max(steal_share) AS steal FROM results WHERE run_id = ? "
        "GROUP BY device",
        [run_id],
    )
    return {
        r["device"]: f"the hypervisor stole up to {r['steal']:.0%} of the CPUs during its jobs "
        f"(more than {max_steal:.0%})"
        for r in rows
        if r["steal"] is not None and r["steal"] > max_steal and r["device"] not in already
    }


async def _measure_pairs(
    n0: Night0,
    plan: Plan,
    devices: dict[str, Device],
    store: Store,
    work: Path,
    options: NightlyOptions,
    progress: ProgressPrinter,
) -> tuple[dict[str, PairOutcome], str | None, dict[str, str]]:
    """Tonight's pairs: the outcomes, the pairs run, and why a series was not paired."""
    unpaired: dict[str, str] = {}
    if not options.pairs.enabled:
        return {}, None, dict.fromkeys(n0.tonight, "pairs turned off (--no-pairs)")
    plans: list[PairPlan] = []
    for key, ref in n0.pair_references().items():
        night = n0.tonight[key]
        if night.device not in devices:
            continue
        plans.append(plan_pair(store, devices[night.device], night, ref))
    if not plans:
        return {}, None, unpaired
    settings = options.pairs.compare(options.policy)
    seed = secrets.randbits(32)
    run_id = new_run_id()
    name = f"{plan.name}.pairs"
    store.begin_run(
        run_id,
        "pairs",
        name,
        json.dumps(
            {
                "name": name,
                "nightly_run": n0.run_id,
                "series": [p.key for p in plans],
                "seed": seed,
                "rounds": settings.rounds,
                "max_rounds": settings.limit,
                "round_s": settings.round_s,
            }
        ),
        None,
    )
    progress.info(
        f"nightly {plan.name!r}: {len(plans)} series measured in pairs against their baseline "
        f"nights (run {run_id})"
    )
    try:
        outcomes = await measure_pairs(run_id, plans, store, work, settings, progress, seed)
    except BaseException as e:
        store.finish_run(run_id, "failed", note=str(e)[:500])
        raise
    lost = any(o.problems for o in outcomes.values())
    store.finish_run(run_id, "finished-with-errors" if lost else "finished")
    pairs: dict[str, PairOutcome] = {}
    for key, o in outcomes.items():
        if o.problems and o.failure_kinds <= {"artifact"}:
            # The baseline night's artifact is gone from the compile cache and the agent.
            unpaired[key] = "; ".join(o.problems)
        else:
            pairs[key] = o
    return pairs, run_id, unpaired
