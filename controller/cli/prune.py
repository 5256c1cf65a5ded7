"""``rigbench prune``: delete old runs and their samples, keeping what nightly still needs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, StoreOpt, open_store
from rigbench.reports.tables import render, to_csv

COLUMNS = [
    ("run_id", "run"),
    ("kind", "kind"),
    ("plan_name", "plan"),
    ("status", "status"),
    ("started_at", "started (UTC)"),
    ("results", "results"),
    ("samples", "samples"),
]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@app.command("prune")
def prune_cmd(
    keep_days: float = typer.Option(
        None, "--keep-days", min=0, help="keep runs started in the last N days"
    ),
    keep_runs: int = typer.Option(None, "--keep-runs", min=0, help="keep the N newest runs"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would go, delete nothing"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """Delete old runs and their samples, and give the space back.

    A run goes when it is older than --keep-days and not among the
    --keep-runs newest (give either or both). Never deleted: runs still going
    on, the nightly history each nightly plan compares with (its last nights),
    and every run a kept nightly named as its baseline (a pinned run, a canary).
    The store is then copied into a compact file that replaces it.

    Example: rigbench prune --keep-days 30 --keep-runs 50 --dry-run
    """
    from rigbench.controller.nightly.evaluate import HISTORY_RUNS
    from rigbench.controller.store.prune import plan_prune, prune

    st = open_store(store)
    plan = plan_prune(st, keep_days, keep_runs, HISTORY_RUNS)
    doomed = [
        {**dataclasses.asdict(r), "started_at": r.started_at.replace(microsecond=0)}
        for r in plan.delete
    ]
    if dry_run or not plan.delete:
        _show_plan(doomed, plan.kept, dry_run, plan.samples, fmt)
        return
    result = prune(st, [r.run_id for r in plan.delete])
    if fmt is Format.json:
        typer.echo(json.dumps({**dataclasses.asdict(result), "kept": plan.kept}, indent=2))
        return
    if fmt is Format.csv:
        typer.echo(to_csv([{"table": t, "rows": n} for t, n in result.rows.items()]), nl=False)
        return
    done = ", ".join(f"{n} {t}" for t, n in result.rows.items() if n)
    typer.echo(f"deleted {result.deleted_runs} run(s): {done}")
    _show_kept(plan.kept)
    typer.echo(f"store {st.path}: {_mb(result.bytes_before)} -> {_mb(result.bytes_after)}")


def _show_kept(kept: dict[str, list[str]]) -> None:
    for why, ids in kept.items():
        typer.echo(f"kept {len(ids)} old run(s): {why}")


def _show_plan(
    doomed: list[dict[str, Any]],
    kept: dict[str, list[str]],
    dry_run: bool,
    samples: int,
    fmt: Format,
) -> None:
    if fmt is Format.json:
        out = {"dry_run": dry_run, "delete": doomed, "kept": kept}
        typer.echo(json.dumps(out, indent=2, default=str))
    elif fmt is Format.csv:
        typer.echo(to_csv(doomed), nl=False)
    elif doomed:
        title = f"would delete {len(doomed)} run(s), {samples} latency samples"
        typer.echo(render(doomed, "table", COLUMNS, title))
        _show_kept(kept)
    else:
        typer.echo("nothing to delete: no run is old enough, or every old one is needed")
        _show_kept(kept)
