"""``rigbench report``: one run's rankings and charts as HTML, Markdown or JSON.

Only parses and writes; the data is `rigbench.controller.ranking.bundle`, the views are
`rigbench.reports.html`, `.markdown` and `.json_report`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import StoreOpt, open_store
from rigbench.controller.cli.rank import (
    AllowEmulatedOpt,
    InventoryCostOpt,
    LatencyOpt,
    MaxErrorOpt,
    MemoryOpt,
    PercentileOpt,
    RunOpt,
    ScenarioOpt,
    ThrottleOpt,
    ThroughputOpt,
    build_request,
)
from rigbench.controller.ranking import RankBy
from rigbench.controller.ranking.bundle import build_bundle
from rigbench.controller.store import queries
from rigbench.errors import ReportError
from rigbench.reports.html import render_html
from rigbench.reports.json_report import render_bundle_json
from rigbench.reports.markdown import render_bundle_markdown


@app.command("report")
def report_cmd(
    html: Path = typer.Option(None, "--html", help="write a self-contained HTML file here"),
    markdown: bool = typer.Option(False, "--markdown", help="Markdown (for CI comments)"),
    as_json: bool = typer.Option(False, "--json", help="JSON (for machines)"),
    output: Path = typer.Option(
        None, "--output", "-o", help="write --markdown/--json here instead of stdout"
    ),
    run_id: str = RunOpt,
    model: str = typer.Option(None, "--model", "-m", help="one model (default: every model)"),
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
    store: Path = StoreOpt,
) -> None:
    """Report a run as one offline HTML file, Markdown or JSON.

    The ranking table, latency distributions per choice, cost against latency
    with the Pareto front, and thermal/power timelines of soak runs.

    Example: rigbench report --html report.html --latency-ms 10
    """
    chosen = [
        name for name, on in (("--html", html), ("--markdown", markdown), ("--json", as_json)) if on
    ]
    if len(chosen) != 1:
        raise ReportError("choose one of --html FILE, --markdown or --json")
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
    bundle = build_bundle(st, req)
    if html is not None:
        _write(html, render_html(bundle))
        typer.echo(f"wrote {html} ({html.stat().st_size // 1024} KiB, opens offline)")
        return
    text = render_bundle_markdown(bundle) if markdown else render_bundle_json(bundle)
    if output is not None:
        _write(output, text)
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write {path}: {e}") from e
