"""The ``rigbench`` command line: a thin typer layer over the controller library.

Each command lives in its own module here and only parses and prints; errors become exit
codes in one place (``run_app``).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from rigbench import limits
from rigbench.controller.cli import common
from rigbench.errors import RigbenchError, UsageError

# click's usage errors (typer vendors click, older typer imports it: reach it through typer).
_ClickUsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _ErrorsToExitCodes(TyperGroup):
    """The one place where a RigbenchError becomes a message and an exit code.

    A malformed option (click's usage errors) is one ``error:`` line too, like every other
    bad input, rather than a box; a command given no arguments still prints its help.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RigbenchError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(common.EXIT_ERROR) from None
        except _ClickUsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                raise
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            message = " ".join(e.format_message().split())
            typer.echo(f"error: {message} (see '{where} --help')", err=True)
            raise typer.Exit(e.exit_code) from None


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


def _bounded_numbers(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse inf, nan and integers beyond 64 bits in any option, naming the option.

    typer parses ``--duration inf`` and ``--limit 1e30``-sized integers happily; nothing
    downstream (timers, DuckDB, protobuf) can use them. Limits specific to one option (how
    many iterations, how long) are checked by the command, from ``rigbench.limits``.
    """
    params = inspect.signature(callback).parameters

    def option_name(name: str) -> str:
        decls = getattr(params[name].default, "param_decls", None) or ()
        longest = max(decls, key=len, default=None)
        return longest if longest else name.upper()

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            for v in value if isinstance(value, (list, tuple)) else (value,):
                problem = _number_problem(v)
                if problem is not None:
                    raise UsageError(f"{option_name(name)}: {problem}")
        return callback(*args, **kwargs)

    return checked


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.INT64_MAX:
        return f"{value} is out of range (at most {limits.INT64_MAX})"
    return None


def _check_numbers_of_every_command(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None:
            info.callback = _bounded_numbers(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _check_numbers_of_every_command(group.typer_instance)


@agent_app.command(
    "serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def agent_serve(ctx: typer.Context) -> None:
    """Serve this device to a controller (see `rigbench agent serve --help`).

    Example: rigbench agent serve --port 0 --home /var/lib/rigbench-agent
    """
    from rigbench.agent.cli import main as agent_main

    raise typer.Exit(agent_main(list(ctx.args)))


_check_numbers_of_every_command(app)


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
