"""The ``rigbench`` command line: a thin typer layer over the controller library.

Each command lives in its own module here and only parses and prints; errors become exit
codes in one place (``RigbenchGroup.invoke``). A command's module is imported only when that
command runs (``COMMANDS`` names it), so ``rigbench --help`` or ``rigbench results`` does not
pay for DuckDB-free commands' ONNX tooling, gRPC or paramiko, nor they for each other.
Every command takes ``-q``/``-v`` with one meaning (``output.py``). Help is click's plain
text (``rich_markup_mode=None``): typer's rich boxes would import rich, markdown-it and their
dependencies, about doubling what ``rigbench --help`` costs.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from rigbench import __version__, limits
from rigbench.context import use_flags
from rigbench.controller.cli import common, output
from rigbench.errors import RigbenchError, UsageError

# click's usage errors (typer vendors click, older typer imports it: reach it through typer).
_ClickUsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

# name -> (module under rigbench.controller.cli, one-line help shown by `rigbench --help`).
# The one-line help is the first line of the command's docstring (a test keeps them equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Run a plan on the inventory's devices and print the results table."),
    "bench": ("bench", "Benchmark one model file on one device now, and store the result."),
    "results": (
        "results",
        "Show a run's results: latency percentiles, throughput, load, memory, accuracy, power.",
    ),
    "runs": ("results", "List recent runs in the store, with what each one concluded."),
    "timeline": (
        "results",
        "One job's latency, temperature, clock and power over time, read back from the store.",
    ),
    "ops": (
        "ops",
        "The operators a profiled job spent its time in, and where they ran.",
    ),
    "compile": (
        "compile",
        "Compile variants of a model into the compile cache and print their lineage.",
    ),
    "devices": (
        "devices",
        "Describe every inventory device: hardware, OS, runtimes and providers, sensors.",
    ),
    "rank": ("rank", "Rank a model's deployment choices by cost per million inferences."),
    "fleet": (
        "fleet",
        "Size a fleet: devices or instances per viable choice, monthly cost, power.",
    ),
    "report": ("report", "Report a run as one offline HTML file, Markdown or JSON."),
    "nightly": (
        "nightly",
        "Run a plan as tonight's nightly, compare it with its baseline, write reports.",
    ),
    "export": (
        "export",
        "Export the store's history as Parquet, partitioned by run date and device.",
    ),
    "sql": ("sql", "Query the store read-only, even while a run writes it."),
    "snapshot": ("sql", "Copy the store into a file of its own, for a notebook to keep open."),
    "prune": ("prune", "Delete old runs and their samples, and give the space back."),
    "tune": (
        "tune",
        "Find the best configuration of a model on each device, within a time budget.",
    ),
    "baseline": ("baseline", "The nightly's baselines."),
    "compare": ("compare", "Measure A and B in interleaved rounds on one device: is B slower?"),
    "model": ("model", "Models rigbench can make itself."),
    "agent": ("agent_admin", "Serve, install and manage agents."),
}
_loaded: set[str] = set()


def _verbosity_options() -> list[Any]:
    """``-q`` and ``-v`` as click parameters, added to every command (values kept aside)."""

    def remember(ctx: Any, param: Any, value: bool) -> None:
        key = f"rigbench.{param.name}"  # meta is shared: `rigbench -q results` counts too
        ctx.meta[key] = ctx.meta.get(key, False) or value
        q, v = ctx.meta.get("rigbench.quiet", False), ctx.meta.get("rigbench.verbose", False)
        if q and v:
            raise typer.BadParameter("-q (quiet) and -v (verbose) contradict each other")
        output.configure(quiet_=q, verbose_=v)

    def spec(
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="only the answer: no progress lines or notes"
        ),
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help="also what rigbench does: debug logs, every event"
        ),
    ) -> None:
        """Only here to let typer build the two options."""

    holder = typer.Typer(add_completion=False)
    holder.command()(spec)
    params = typer.main.get_command(holder).params
    for p in params:
        p.expose_value = False
        p.callback = remember
    return params


_VERBOSITY = _verbosity_options()


class RigbenchGroup(TyperGroup):
    """Lazily loaded commands; every command gets -q/-v; errors become one line and an exit code.

    The one place where a RigbenchError becomes a message and an exit code. A malformed option
    (click's usage errors) is one ``error:`` line too, like every other bad input, rather than
    a box; a command given no arguments still prints its help.
    """

    lazy: dict[str, tuple[str, str]] = {}

    def invoke(self, ctx: Any) -> Any:
        use_flags()  # a command with context flags sets them; no flags from an earlier command
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

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(self.lazy) | set(self.commands))

    def get_command(self, ctx: Any, name: str) -> Any:
        if name in self.lazy and self.lazy[name][0] not in _loaded:
            if getattr(ctx, "meta", {}).get("rigbench.listing"):
                return TyperCommand(name, short_help=self.lazy[name][1], help=self.lazy[name][1])
            self._load(name)
        cmd = self.commands.get(name)
        if cmd is not None and not isinstance(cmd, TyperGroup):
            _add_verbosity(cmd)
        return cmd

    def _load(self, name: str) -> None:
        module = self.lazy[name][0]
        importlib.import_module(f"rigbench.controller.cli.{module}")
        _loaded.add(module)
        _check_numbers_of_every_command(app)
        for cmd_name, info in _registered(app).items():
            if cmd_name not in self.commands or (cmd_name in self.lazy and cmd_name == name):
                self.commands[cmd_name] = _build(info)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        ctx.meta["rigbench.listing"] = True  # list commands without importing them
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta.pop("rigbench.listing", None)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        from typer._click.shell_completion import CompletionItem

        ctx.meta["rigbench.listing"] = True
        try:
            names = [n for n in self.list_commands(ctx) if n.startswith(incomplete)]
            items = [
                CompletionItem(n, help=self.get_command(ctx, n).get_short_help_str()) for n in names
            ]
        finally:
            ctx.meta.pop("rigbench.listing", None)
        return items + TyperCommand.shell_complete(self, ctx, incomplete)


def _add_verbosity(cmd: Any) -> None:
    if getattr(cmd, "_rigbench_verbosity", False):
        return
    cmd._rigbench_verbosity = True
    if cmd.context_settings.get("ignore_unknown_options"):
        return  # `agent serve` passes its arguments through
    have = {o for p in cmd.params for o in getattr(p, "opts", [])}
    cmd.params.extend(p for p in _VERBOSITY if not set(p.opts) & have)


def _registered(typer_app: typer.Typer) -> dict[str, Any]:
    """Commands and sub-apps registered on ``typer_app`` so far, by name."""
    out: dict[str, Any] = {}
    for info in typer_app.registered_commands:
        if info.callback is not None:
            out[info.name or typer.main.get_command_name(info.callback.__name__)] = info
    for group in typer_app.registered_groups:
        if group.name:
            out[group.name] = group
    return out


def _build(info: Any) -> Any:
    if isinstance(info, typer.models.TyperInfo):
        return typer.main.get_group_from_info(
            info, pretty_exceptions_short=True, rich_markup_mode=None, suggest_commands=True
        )
    return typer.main.get_command_from_info(
        info, pretty_exceptions_short=True, rich_markup_mode=None
    )


class _Root(RigbenchGroup):
    lazy = COMMANDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_VERBOSITY)  # `rigbench -v run ...` as well as `rigbench run -v`


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
    """Wrap every registered command's callback once (commands load lazily, so on each load)."""
    for info in typer_app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_rigbench_bounded", False):
            info.callback = _bounded_numbers(info.callback)
            info.callback._rigbench_bounded = True  # type: ignore[attr-defined]
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _check_numbers_of_every_command(group.typer_instance)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rigbench {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=_Root,
    name="rigbench",
    help="Benchmark ML inference on real devices: compile variants, dispatch to agents, "
    "store in DuckDB, rank by cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Benchmark ML inference on real devices: compile variants, dispatch to agents, store in
    DuckDB, rank by cost.
    """


agent_app = typer.Typer(
    cls=RigbenchGroup,
    help="Serve, install and manage agents.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(agent_app, name="agent")


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


def load_all() -> None:
    """Import every command module (for tools that walk the whole command tree)."""
    for module, _ in COMMANDS.values():
        if module not in _loaded:
            importlib.import_module(f"rigbench.controller.cli.{module}")
            _loaded.add(module)
    _check_numbers_of_every_command(app)


def run_app(args: list[str]) -> int:
    """Run the CLI and return its exit code."""
    output.configure()
    try:
        app(args=args, prog_name="rigbench")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
