"""``rigbench fleet``: how many devices serve a target load within the latency target.

Only parses and prints; sizing is `rigbench.controller.ranking.fleet`, the views are
`rigbench.reports.fleet`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import StoreOpt, open_store
from rigbench.controller.cli.rank import (
    EXIT_NOTHING_QUALIFIES,
    AllowEmulatedOpt,
    InventoryCostOpt,
    MaxErrorOpt,
    MemoryOpt,
    ModelOpt,
    PercentileOpt,
    RankFormat,
    RunOpt,
    ScenarioOpt,
    ThrottleOpt,
    build_request,
)
from rigbench.controller.ranking.fleet import DEFAULT_HEADROOM, size_fleet
from rigbench.controller.store import queries
from rigbench.reports.fleet import render_csv, render_json, render_markdown, render_text


@app.command("fleet")
def fleet_cmd(
    qps: float = typer.Option(..., "--qps", help="target load, inferences per second", min=0),
    latency_ms: float = typer.Option(
        ..., "--latency-ms", help="latency target at batch 1, for --percentile", min=0
    ),
    percentile: int = PercentileOpt,
    headroom: float = typer.Option(
        DEFAULT_HEADROOM,
        "--headroom",
        help="run each device at most at this share of its measured throughput",
        min=0.01,
        max=1.0,
    ),
    model: str = ModelOpt,
    run_id: str = RunOpt,
    max_error: float = MaxErrorOpt,
    max_memory_mb: float = MemoryOpt,
    no_throttling: bool = ThrottleOpt,
    scenario: str = ScenarioOpt,
    inventory: Path = InventoryCostOpt,
    allow_emulated: bool = AllowEmulatedOpt,
    fmt: RankFormat = typer.Option(RankFormat.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """Size a fleet: devices or instances per viable choice, monthly cost, power.

    Capacity per device is its measured single-stream throughput at batch 1,
    used up to --headroom (70%); the output states this queueing assumption
    and an M/G/1 estimate of the wait it adds. Exits 1 when no choice is viable.

    Example: rigbench fleet --qps 500 --latency-ms 10 --percentile 99
    """
    st = open_store(store)
    chosen_run = queries.resolve_run(st, run_id) if run_id else None
    req = build_request(
        chosen_run,
        model,
        latency_ms,
        percentile,
        None,
        max_error,
        max_memory_mb,
        no_throttling,
        scenario,
        inventory,
        allow_emulated=allow_emulated,
    )
    plan = size_fleet(st, req, qps, headroom)
    render = {
        RankFormat.table: render_text,
        RankFormat.json: render_json,
        RankFormat.csv: render_csv,
        RankFormat.markdown: render_markdown,
    }[fmt]
    typer.echo(render(plan))
    if not plan.options:
        raise typer.Exit(EXIT_NOTHING_QUALIFIES)
