"""One night: canary, plan, comparison, verdict in the store, reports on disk.

The canary runs first, as its own run (kind ``canary``), on every device the plan selects; only
devices that pass it run the plan (kind ``nightly``), so an unhealthy device's numbers never
enter the history. Then the run is compared with its baselines, the verdicts are kept in
``nightly_checks`` and the reports are written: ``summary.md``, ``junit.xml``, ``trends.html``
and ``nightly.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rigbench.controller.baseline import trends
from rigbench.controller.dispatch import RunRequest, execute_plan, new_run_id
from rigbench.controller.inventory import Inventory
from rigbench.controller.nightly.canary import canary_health, canary_plan
from rigbench.controller.nightly.evaluate import NightlyReport, evaluate_night, record_checks
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
    report = evaluate_night(
        store,
        run_id,
        options.policy,
        options.baseline_runs,
        options.pin,
        health,
        set(names),
    )
    report.comparisons += placement_checks(store, report)  # its own verdict, apart
    record_checks(store, report)
    files = write_reports(store, report, options.out_dir, options.trend_nights)
    return NightlyResult(report, files)
