"""``rigbench baseline accept RUN|SERIES --why TEXT``: an expected change is the new baseline."""

from __future__ import annotations

from pathlib import Path

import typer

from rigbench.context import use_flags
from rigbench.controller.cli import RigbenchGroup, app
from rigbench.controller.cli.common import (
    GitBranchOpt,
    GitShaOpt,
    PullRequestOpt,
    StoreOpt,
    open_store,
)
from rigbench.controller.nightly.accept import accept

baseline_app = typer.Typer(
    cls=RigbenchGroup, help="The nightly's baselines.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("accept")
def accept_cmd(
    target: str = typer.Argument(
        ...,
        help="a nightly run id (all its series), or a series: device/model/variant/"
        "runtime/scenario or any consecutive part of it (its newest night)",
    ),  # fmt: skip
    why: str = typer.Option(..., "--why", help="why this change is expected (recorded)"),
    plan: str = typer.Option(None, "--plan", help="only series of this plan's nightly runs"),
    store: Path = StoreOpt,
    git_sha: str = GitShaOpt,
    git_branch: str = GitBranchOpt,
    pull_request: str = PullRequestOpt,
) -> None:
    """Accept a nightly's numbers as its series' new baseline, with why.

    A regression stays reported every night until it is fixed or accepted
    here. From the next night on the series is compared with the accepted
    night.

    Example: rigbench baseline accept 20261124T020000Z-ab12 --why "new op"
    """
    use_flags(git_sha, git_branch, pull_request)
    accepts = accept(open_store(store), target, why, plan)
    run = accepts[0].run_id
    typer.echo(f"accepted run {run} as the baseline of {len(accepts)} series: {why.strip()}")
    for a in accepts:
        typer.echo(f"  {a.series}")
    ctx = accepts[0].context.describe()
    if ctx:
        typer.echo(f"  recorded with {ctx}")
