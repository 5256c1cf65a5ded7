"""``rigbench rank``: which device and variant serve a model at the lowest cost within targets.

Only parses and prints; the ranking is `rigbench.controller.ranking`, the views are
`rigbench.reports.rank`. The options here are shared with ``fleet`` and ``report``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import EXIT_REGRESSION, StoreOpt, open_store
from rigbench.controller.inventory import Cost, load_inventory
from rigbench.controller.ranking import Constraints, RankBy, RankRequest, rank
from rigbench.controller.store import queries
from rigbench.reports.rank import render_csv, render_json, render_markdown, render_text

EXIT_NOTHING_QUALIFIES = EXIT_REGRESSION  # 1: the answer is "nothing meets the targets"


class RankFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _percentile(value: int) -> int:
    if value not in (50, 90, 99):
        raise typer.BadParameter("choose 50, 90 or 99")
    return value


RunOpt = typer.Option(None, "--run", help="run id (default: the latest finished run)")
ModelOpt = typer.Option(None, "--model", "-m", help="model name (default: the run's only model)")
LatencyOpt = typer.Option(
    None, "--latency-ms", help="latency target at batch 1, for --percentile", min=0
)
PercentileOpt = typer.Option(
    99,
    "--percentile",
    "-p",
    help="percentile the target applies to: 50, 90 or 99",
    callback=_percentile,
)
ThroughputOpt = typer.Option(
    None, "--min-throughput", help="minimum inferences per second of one device", min=0
)
MaxErrorOpt = typer.Option(
    None, "--max-error", help="max abs error vs the fp32 source (the accuracy table)", min=0
)
MemoryOpt = typer.Option(None, "--max-memory-mb", help="maximum peak RSS in MB", min=0)
ThrottleOpt = typer.Option(
    False,
    "--no-throttling",
    help="exclude choices that throttled (devices without a throttle sensor are kept and show n/a)",
)
ScenarioOpt = typer.Option(None, "--scenario", help="only this scenario (default: all)")
AllowEmulatedOpt = typer.Option(
    False,
    "--allow-emulated",
    help="include devices that run under emulation (qemu-user): refused by default, since "
    "their speed and cost say nothing about real hardware",
)
InventoryCostOpt = typer.Option(
    None,
    "--inventory",
    "-i",
    help="price devices with this inventory's costs instead of those recorded with the run",
)


def costs_from(inventory: Path | None) -> tuple[dict[str, Cost | None] | None, str | None]:
    if inventory is None:
        return None, None
    inv = load_inventory(inventory)
    return {d.name: d.cost for d in inv.devices}, str(inventory)


def build_request(
    run_id: str | None,
    model: str | None,
    latency_ms: float | None,
    percentile: int,
    min_throughput: float | None,
    max_error: float | None,
    max_memory_mb: float | None,
    no_throttling: bool,
    scenario: str | None,
    inventory: Path | None,
    by: RankBy = RankBy.cost,
    allow_emulated: bool = False,
) -> RankRequest:
    costs, source = costs_from(inventory)
    return RankRequest(
        run_id=run_id,
        model=model,
        constraints=Constraints(
            latency_ms=latency_ms,
            percentile=percentile,
            min_throughput_ips=min_throughput,
            max_error=max_error,
            max_memory_mb=max_memory_mb,
            no_throttling=no_throttling,
            allow_emulated=allow_emulated,
        ),
        by=by,
        scenario=scenario,
        costs=costs,
        costs_source=source,
    )


@app.command("rank")
def rank_cmd(
    model: str = ModelOpt,
    run_id: str = RunOpt,
    latency_ms: float = LatencyOpt,
    percentile: int = PercentileOpt,
    min_throughput: float = ThroughputOpt,
    max_error: float = MaxErrorOpt,
    max_memory_mb: float = MemoryOpt,
    no_throttling: bool = ThrottleOpt,
    by: RankBy = typer.Option(RankBy.cost, "--by", help="order by cost, energy or latency"),
    scenario: str = ScenarioOpt,
    inventory: Path = InventoryCostOpt,
    allow_emulated: bool = AllowEmulatedOpt,
    fmt: RankFormat = typer.Option(RankFormat.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """Rank a model's deployment choices by cost per million inferences.

    Rows within measurement noise are ties: 95% confidence intervals from
    every per-iteration sample overlap. '*' marks the Pareto front of latency
    against cost. Exits 1 when no choice meets the constraints, naming the
    constraint that excluded each one.

    Example: rigbench rank --model cnn --latency-ms 10 --max-error 0.05
    """
    st = open_store(store)
    chosen_run = queries.resolve_run(st, run_id) if run_id else None
    req = build_request(
        chosen_run,
        model,
        latency_ms,
        percentile,
        min_throughput,
        max_error,
        max_memory_mb,
        no_throttling,
        scenario,
        inventory,
        by,
        allow_emulated,
    )
    ranking = rank(st, req)
    render = {
        RankFormat.table: render_text,
        RankFormat.json: render_json,
        RankFormat.csv: render_csv,
        RankFormat.markdown: render_markdown,
    }[fmt]
    typer.echo(render(ranking))
    if not ranking.ranked:
        raise typer.Exit(EXIT_NOTHING_QUALIFIES)
