"""Nightly: a change of operator placement is its own verdict.

A runtime, driver or model change can move an operator off the accelerator (a new CPU
fallback) without moving the latency enough to notice on one night; users only find out when
they profile by hand. For every series profiled tonight (``profile: true``) and on its last
profiled night before, this compares the sets of operators that ran off the requested unit: a
new one is a regression (metric ``placement``), one that went back on the unit an
improvement. It runs beside the latency and accuracy comparisons and changes none of them.
"""

from __future__ import annotations

from rigbench.controller.baseline import history, nights_of_run
from rigbench.controller.nightly.evaluate import Comparison, NightlyReport
from rigbench.controller.nightly.verdicts import Outcome
from rigbench.controller.store.db import Store
from rigbench.controller.store.ops import off_unit_ops, placement_by_job

METRIC = "placement"


def _names(ops: set[tuple[str, str, str]], limit: int = 5) -> str:
    items = sorted(f"{node} ({op}) on {unit}" for node, op, unit in ops)
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def placement_checks(store: Store, report: NightlyReport, max_runs: int = 30) -> list[Comparison]:
    """One ``placement`` comparison per series profiled tonight and on an earlier night."""
    tonight = nights_of_run(store, report.run_id)
    if not tonight:
        return []
    started = min(n.started_at for n in tonight.values())
    past = history(store, report.plan_name, started, report.run_id, max_runs)
    heads = placement_by_job(store, [n.job_id for n in tonight.values()])
    out = []
    for key, night in sorted(tonight.items()):
        now = heads.get(night.job_id)
        if now is None or now["off_unit_time_share"] is None:
            continue  # not profiled tonight, or the runtime does not say where nodes ran
        earlier = placement_by_job(store, [n.job_id for n in past.get(key, [])])
        before = next(
            (
                n
                for n in past.get(key, [])
                if earlier.get(n.job_id, {}).get("off_unit_nodes") is not None
            ),
            None,
        )
        base = Comparison(
            device=night.device,
            series=key,
            model=night.model,
            variant=night.variant,
            runtime_name=night.runtime_name,
            scenario=night.scenario,
            metric=METRIC,
            outcome=Outcome.NOT_ENOUGH_DATA,
        )
        if before is None:
            base.message = "no earlier profiled night to compare placement with"
            out.append(base)
            continue
        ops_now, ops_then = off_unit_ops(store, night.job_id), off_unit_ops(store, before.job_id)
        new, gone = ops_now - ops_then, ops_then - ops_now
        base.baseline_runs = [before.run_id]
        unit = now["requested_unit"] or "the requested unit"
        if new:
            base.outcome = Outcome.REGRESSION
            base.message = f"{len(new)} operator(s) newly off {unit}: {_names(new)}"
        elif gone:
            base.outcome = Outcome.IMPROVEMENT
            base.message = f"{len(gone)} operator(s) back on {unit}: {_names(gone)}"
        else:
            base.outcome = Outcome.NO_CHANGE
            base.message = f"same placement as run {before.run_id} ({len(ops_now)} off {unit})"
        out.append(base)
    return out
