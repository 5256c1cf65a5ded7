"""``rigbench nightly PLAN``: run the plan, compare with the baselines, exit 0, 1 or 2 for CI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from rigbench import limits
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
    folder_to_write,
    open_store,
    work_path,
)
from rigbench.controller.inventory import load_inventory
from rigbench.controller.nightly import NightlyOptions, run_nightly
from rigbench.controller.nightly.canary import SpeedPolicy
from rigbench.controller.nightly.evaluate import NightlyReport
from rigbench.controller.nightly.pairs import (
    DEFAULT_PAIR_ROUND_S,
    DEFAULT_PAIR_ROUNDS,
    PairSettings,
)
from rigbench.controller.nightly.verdicts import Outcome, Policy
from rigbench.controller.plan import load_plan
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import queries
from rigbench.errors import ConfigError, RigbenchError
from rigbench.reports.nightly_markdown import VERDICT, title
from rigbench.reports.tables import flatten, to_csv


def short_summary(report: NightlyReport) -> str:
    """A few lines for the terminal; the Markdown file has everything."""
    lines = [
        f"nightly {report.plan_name} run {report.run_id}: {VERDICT[report.exit_code]} "
        f"(exit {report.exit_code})",
        "  " + ", ".join(f"{o.value} {report.count(o)}" for o in Outcome if report.count(o)),
    ]
    if report.context.describe():
        lines.append(f"  code: {report.context.describe()}")
    for d in report.devices:
        if d.state != "healthy":
            lines.append(f"  device {d.device}: {d.state}: {d.message}")
    for c in report.comparisons:
        if c.outcome in (
            Outcome.REGRESSION,
            Outcome.FAILED,
            Outcome.ERROR,
            Outcome.IMPROVEMENT,
            Outcome.NOT_ENOUGH_EVIDENCE,
        ):
            change = f" {c.verdict.ratio - 1:+.1%}" if c.verdict and c.verdict.ratio else ""
            lines.append(f"  {c.outcome.value}: {title(c)}{change} {c.message}".rstrip())
            if c.changes and c.outcome is not Outcome.ERROR:
                lines.append("    what changed: " + "; ".join(str(x) for x in c.changes))
    return "\n".join(lines)


@app.command("nightly")
def nightly_cmd(
    plan_file: Path = typer.Argument(..., help="plan YAML"),
    baseline_runs: int = typer.Option(
        7, "--baseline-runs", "-k", min=1, help="compare with the last K good nightly runs"
    ),
    pin: str = typer.Option(
        None, "--pin", help="compare with this run instead (a known-good night)"
    ),
    min_effect: float = typer.Option(
        0.03, "--min-effect", help="smallest relative change reported (0.03 = 3%)"
    ),
    alpha: float = typer.Option(
        0.01, "--alpha", help="one-sided false-alarm level of each comparison"
    ),
    noise_prior: float = typer.Option(
        0.02,
        "--noise-prior",
        help="night-to-night spread assumed before the history shows it (0.02 = 2%)",
    ),
    out: Path = typer.Option(
        Path("nightly-report"),
        "--out",
        "-o",
        help="folder for summary.md, junit.xml, trends.html, nightly.json",
    ),
    trend_nights: int = typer.Option(30, "--trend-nights", min=1, help="nights in trends.html"),
    pairs: bool = typer.Option(
        True,
        "--pairs/--no-pairs",
        help="judge latency on tonight's artifact against the baseline night's, measured in "
        "interleaved pairs tonight (--no-pairs: on the history alone)",
    ),
    pair_rounds: int = typer.Option(
        DEFAULT_PAIR_ROUNDS, "--pair-rounds", help="rounds per series, measured in stages of this"
    ),
    pair_max_rounds: int = typer.Option(
        None, "--pair-max-rounds", help="more stages while a pair is undecided, up to this (3x)"
    ),
    pair_round_s: float = typer.Option(
        DEFAULT_PAIR_ROUND_S, "--pair-round-s", help="seconds each side is measured per round"
    ),
    canary_slack: float = typer.Option(
        0.5,
        "--canary-slack",
        help="a device is noisy tonight when its canary is slower than its recent nights by "
        "more than this (0.5 = 50%)",
    ),
    max_steal: float = typer.Option(
        0.1, "--max-steal", help="... or the hypervisor stole more than this share of its CPUs"
    ),
    inventory: Path = InventoryOpt,
    store: Path = StoreOpt,
    work: Path = WorkOpt,
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help="json: the verdict (as nightly.json); csv: comparisons"
    ),
    git_sha: str = GitShaOpt,
    git_branch: str = GitBranchOpt,
    pull_request: str = PullRequestOpt,
) -> None:
    """Run a plan as tonight's nightly, compare it with its baseline, write reports.

    Exit code 0: no regression. 1: a regression (or a job that now fails for
    the model's own reasons). 2: the farm failed (a device unreachable,
    quarantined, failing the canary, or in the baseline but missing tonight),
    a device was too noisy tonight to judge latency, or bad input. A canary
    (the built-in tiny CNN, checked against its known answers and its usual
    speed) runs first on every device; a device that fails it is not measured.
    Latency is judged on pairs: tonight's artifact and the baseline night's,
    measured in interleaved rounds tonight; the history is shown as context.

    Example: rigbench nightly plans/nightly.yaml --out nightly-report
    """
    use_flags(git_sha, git_branch, pull_request)
    try:
        policy = Policy(min_effect=min_effect, alpha=alpha, noise_prior=noise_prior)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    st = open_store(store, create=True)
    if not 0 < canary_slack <= 100 or not 0 < max_steal <= 1:
        raise ConfigError("--canary-slack must be in (0, 100] and --max-steal in (0, 1]")
    limits.ROUNDS.at_least(1).check("--pair-rounds", pair_rounds, ConfigError)
    if pair_max_rounds is not None:
        limits.ROUNDS.at_least(1).check("--pair-max-rounds", pair_max_rounds, ConfigError)
    limits.DURATION_S.check("--pair-round-s", pair_round_s, ConfigError)
    pair_settings = PairSettings(pairs, pair_rounds, pair_max_rounds, pair_round_s)
    if pairs:
        try:
            pair_settings.compare(policy)  # bad rounds fail now, not after the plan ran
        except RigbenchError as e:
            message = str(e).replace("--max-rounds", "--pair-max-rounds")
            message = message.replace("--rounds", "--pair-rounds")
            raise ConfigError(message.replace("--round-s", "--pair-round-s")) from None
    options = NightlyOptions(
        out_dir=folder_to_write(out, "--out"),
        baseline_runs=baseline_runs,
        pin=queries.resolve_run(st, pin) if pin else None,
        policy=policy,
        trend_nights=trend_nights,
        pairs=pair_settings,
        speed=SpeedPolicy(slack=canary_slack, max_steal=max_steal),
    )
    with ProgressPrinter(quiet=output.quiet(), verbose=output.verbose()) as progress:
        result = asyncio.run(
            run_nightly(
                load_plan(plan_file),
                load_inventory(inventory),
                st,
                work_path(work),
                options,
                progress,
            )
        )
    if fmt is Format.json:
        typer.echo(json.dumps(result.report.to_dict(), indent=2, default=str))
    elif fmt is Format.csv:
        rows = [flatten(c) for c in result.report.to_dict()["comparisons"]]
        typer.echo(to_csv(rows), nl=False)
    else:
        typer.echo(short_summary(result.report))
        typer.echo("reports: " + ", ".join(str(p) for p in result.files.values()))
    raise typer.Exit(result.report.exit_code)
