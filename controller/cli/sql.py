"""``rigbench sql`` and ``rigbench snapshot``: analyse the store while runs go on.

Both go through the store's hand-off, so a run in progress lets them in between batches; a
notebook should read a snapshot (or the Parquet export) rather than keep the store open.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, StoreOpt, open_store
from rigbench.controller.store import queries
from rigbench.errors import ConfigError
from rigbench.reports.tables import render


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique (``SELECT a, a`` gives a, a_2) so every row keeps them all."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


@app.command("sql")
def sql_cmd(
    query: str = typer.Argument(..., help="one SQL statement (read-only), or - to read stdin"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """Query the store read-only, even while a run writes it.

    The views in human units (results_h, latency_samples_h, telemetry_h, ...) and
    every table are described in docs/schema.md. Statements that would write are
    refused.

    Example: rigbench sql "SELECT device, variant, p50_ms FROM results_h ORDER BY p50_ms"
    """
    text = sys.stdin.read() if query == "-" else query
    if not text.strip():
        raise ConfigError("give a SQL statement (or - and the statement on stdin)")
    names, rows = queries.user_query(open_store(store), text)
    cols = unique_names(names)
    dicts: list[dict[str, Any]] = [dict(zip(cols, r)) for r in rows]
    if fmt is Format.table:
        out = render(dicts, "table", [(c, c) for c in cols])
        typer.echo(f"{out}\n({len(rows)} row{'' if len(rows) == 1 else 's'})")
    elif fmt is Format.csv:
        typer.echo(render(dicts, "csv", []) if dicts else ",".join(cols), nl=not dicts)
    else:
        typer.echo(render(dicts, "json", []))


@app.command("snapshot")
def snapshot_cmd(
    dest: Path = typer.Argument(..., help="DuckDB file to write (replaced if it exists)"),
    store: Path = StoreOpt,
) -> None:
    """Copy the store into a file of its own, for a notebook to keep open.

    A notebook that keeps the store itself open stops runs from writing it;
    a snapshot is the notebook's own. Made under a read lock, even while a
    run goes on, and renamed into place.

    Example: rigbench snapshot analysis.duckdb && python -c "import duckdb;
    print(duckdb.connect('analysis.duckdb', read_only=True).sql('FROM results_h'))"
    """
    size = queries.snapshot(open_store(store), dest)
    typer.echo(f"wrote {dest} ({size / 1e6:.1f} MB); open it with duckdb.connect('{dest}')")
