"""``rigbench export --parquet DIR``: the store's history as hive-partitioned Parquet."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, StoreOpt, folder_to_write, open_store
from rigbench.controller.store.export import Mode, export_parquet
from rigbench.errors import ConfigError
from rigbench.reports.tables import render


@app.command("export")
def export_cmd(
    parquet: Path = typer.Option(
        ..., "--parquet", help="folder to write <table>/date=YYYY-MM-DD/device=NAME/*.parquet"
    ),
    since: str = typer.Option(
        None, "--since", help="only runs started on or after this day (YYYY-MM-DD, UTC)"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an earlier export"),
    append: bool = typer.Option(
        False,
        "--append",
        help="add what an earlier export lacks: each row once however often you append",
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """Export the store's history as Parquet, partitioned by run date and device.

    Results, latency samples, telemetry, accuracy and nightly verdicts, for
    DuckDB, Spark or Trino: <table>/date=YYYY-MM-DD/device=NAME/*.parquet.

    --append is idempotent: rows already in the folder are not written again; the
    rows of a run that changed since (it was running, or was resumed) are replaced.

    Example: rigbench export --parquet lake/rigbench --since 2026-03-01 --append
    """
    if overwrite and append:
        raise ConfigError("give --overwrite or --append, not both")
    day = None
    if since:
        try:
            day = datetime.strptime(since, "%Y-%m-%d").date()
        except ValueError:
            raise ConfigError(f"--since takes YYYY-MM-DD, got {since!r}") from None
    mode = Mode.overwrite if overwrite else Mode.append if append else Mode.new
    summary = export_parquet(open_store(store), folder_to_write(parquet, "--parquet"), day, mode)
    if fmt is Format.json:
        typer.echo(
            json.dumps(
                {
                    "out_dir": str(summary.out_dir),
                    "rows": summary.rows,
                    "replaced_runs": list(summary.replaced_runs),
                },
                indent=2,
            )
        )
        return
    if fmt is Format.csv:
        rows = [{"table": t, "rows": n} for t, n in summary.rows.items()]
        typer.echo(render(rows, "csv", []), nl=False)
        return
    for table, n in summary.rows.items():
        typer.echo(f"{table}: {n} row(s)")
    if summary.replaced_runs:
        typer.echo(
            f"replaced the runs, jobs and devices rows of {len(summary.replaced_runs)} run(s) "
            f"that changed since they were exported: {', '.join(summary.replaced_runs)}"
        )
    typer.echo(f"written to {summary.out_dir}")
