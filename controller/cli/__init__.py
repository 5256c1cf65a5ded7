"""The ``rigbench`` command line: a thin typer layer over the controller library.

Each command lives in its own module here and only parses and prints; errors become exit
codes in one place (``run_app``).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from rigbench.controller.cli import common
from rigbench.errors import RigbenchError


class _ErrorsToExitCodes(TyperGroup):
    """The one place where a RigbenchError becomes a message and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RigbenchError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(common.EXIT_ERROR) from None


app = typer.Typer(
    cls=_ErrorsToExitCodes,
    name="rigbench",
    help="Benchmark ML inference on real devices: compile variants, dispatch to agents, "
    "store in DuckDB, rank by cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
agent_app = typer.Typer(
    cls=_ErrorsToExitCodes, help="Serve, install and manage agents.", no_args_is_help=True
)
app.add_typer(agent_app, name="agent")

# Registration: one import per command module (each adds its commands to `app`).
from rigbench.controller.cli import (  # noqa: E402,F401
    agent_admin,
    bench,
    compile,
    devices,
    export,
    fleet,
    model,
    nightly,
    rank,
    report,
    results,
    run,
    sql,
)


@agent_app.command(
    "serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def agent_serve(ctx: typer.Context) -> None:
    """Serve this device to a controller (see `rigbench agent serve --help`).

    Example: rigbench agent serve --port 0 --home /var/lib/rigbench-agent
    """
    from rigbench.agent.cli import main as agent_main

    raise typer.Exit(agent_main(list(ctx.args)))


def run_app(args: list[str]) -> int:
    """Run the CLI and return its exit code."""
    try:
        app(args=args, prog_name="rigbench")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
