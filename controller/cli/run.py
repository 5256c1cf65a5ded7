"""``rigbench run PLAN``: run a plan across the inventory, store it, print the results."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import typer

from rigbench.context import use_flags
from rigbench.controller.cli import app, output
from rigbench.controller.cli.common import (
    Format,
    GitBranchOpt,
    GitShaOpt,
    InventoryOpt,
    PullRequestOpt,
    StoreOpt,
    WorkOpt,
    open_store,
    work_path,
)
from rigbench.controller.cli.results import results_text
from rigbench.controller.dispatch import RunOutcome, RunRequest, execute_plan
from rigbench.controller.inventory import load_inventory
from rigbench.controller.plan import Plan, load_plan
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import queries
from rigbench.errors import PlanError


def summarize_outcome(outcome: RunOutcome) -> str:
    parts = [f"{outcome.stored} result(s) stored"]
    if outcome.skipped_existing:
        parts.append(f"{outcome.skipped_existing} already stored before")
    if outcome.failed:
        by_blame = Counter(kind.blame.phrase for _, kind, _ in outcome.failed)
        parts.append(
            f"{len(outcome.failed)} job(s) failed ("
            + ", ".join(f"{n} {phrase}" for phrase, n in by_blame.items())
            + ")"
        )
    if outcome.unreachable:
        parts.append("unreachable: " + ", ".join(d for d, _ in outcome.unreachable))
    if outcome.quarantined:
        parts.append("quarantined: " + ", ".join(outcome.quarantined))
    return f"run {outcome.run_id}: " + "; ".join(parts)


@app.command("run")
def run_cmd(
    plan_file: Path = typer.Argument(None, help="plan YAML (not needed with --resume)"),
    inventory: Path = InventoryOpt,
    store: Path = StoreOpt,
    work: Path = WorkOpt,
    resume: str = typer.Option(None, "--resume", help="re-attach to a run's unfinished jobs"),
    device: list[str] = typer.Option(None, "--device", "-d", help="only these devices"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    git_sha: str = GitShaOpt,
    git_branch: str = GitBranchOpt,
    pull_request: str = PullRequestOpt,
) -> None:
    """Run a plan on the inventory's devices and print the results table.

    Exit code 0: every job done. 1: a job failed for the model's own reasons
    (the model, its inputs, or the runtime running it). 2: the farm failed
    (a device unreachable, quarantined, out of disk...), rigbench failed, or
    bad input.

    Example: rigbench run plans/demo.yaml --store .rigbench/rigbench.duckdb
    """
    use_flags(git_sha, git_branch, pull_request)
    st = open_store(store, create=True)
    if resume:
        resume = queries.resolve_run(st, resume)
        info = queries.run_info(st, resume)
        plan = Plan.model_validate_json(info["plan_json"])
    elif plan_file is None:
        raise PlanError("give a plan file, or --resume RUN_ID")
    else:
        plan = load_plan(plan_file)
    req = RunRequest(
        plan=plan,
        inventory=load_inventory(inventory),
        store=st,
        work=work_path(work),
        resume_run_id=resume,
        device_names=device or None,
    )
    with ProgressPrinter(quiet=output.quiet(), verbose=output.verbose()) as progress:
        outcome = asyncio.run(execute_plan(req, progress))
        progress.info(summarize_outcome(outcome))
    typer.echo(results_text(st, outcome.run_id, fmt))
    raise typer.Exit(outcome.exit_code)
