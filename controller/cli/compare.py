"""``rigbench compare A B``: is B slower than A, measured in interleaved rounds? A PR gate."""

from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path

import typer

from rigbench import limits
from rigbench.agent.npzfile import array_headers
from rigbench.context import current as current_context
from rigbench.context import use_flags
from rigbench.controller.cli import app, output
from rigbench.controller.cli.bench import parse_shape, parse_value
from rigbench.controller.cli.common import (
    GitBranchOpt,
    GitShaOpt,
    InventoryOpt,
    PullRequestOpt,
    StoreOpt,
    WorkOpt,
    open_store,
    work_path,
)
from rigbench.controller.compare.runner import (
    DEFAULT_ROUND_S,
    DEFAULT_ROUNDS,
    CompareSettings,
    run_compare,
)
from rigbench.controller.compare.subjects import RuntimeOptions, resolve_subjects
from rigbench.controller.inventory import load_inventory
from rigbench.controller.plan import InputSpec, load_plan
from rigbench.controller.progress import ProgressPrinter
from rigbench.errors import PlanError, UsageError
from rigbench.reports.compare import render_json, render_markdown, render_table


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def parse_percent(text: str) -> float:
    """'3', '3%' or '0.5' (percent) as a fraction: 0.03, 0.03, 0.005."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise PlanError(f"--min-effect takes a percentage such as 3 or 3%, got {text!r}") from None
    if not 0 <= value < 100:
        raise PlanError(f"--min-effect must be between 0 and 100 %, got {text!r}")
    return value / 100.0


def _inputs(shapes: list[str], values: list[str]) -> dict[str, InputSpec]:
    out: dict[str, InputSpec] = {}
    for s in shapes:
        name, shape = parse_shape(s)
        out.setdefault(name, InputSpec()).shape = shape
    for v in values:
        name, val = parse_value(v)
        out.setdefault(name, InputSpec()).value = val
    return out


@app.command("compare")
def compare_cmd(
    a: str = typer.Argument(
        ...,
        help="A, the reference: a model file PATH or PATH@VARIANT, a stored job run:RUN_ID "
        "or run:RUN_ID/KEY, or MODEL/VARIANT/RUNTIME with --plan",
    ),  # fmt: skip
    b: str = typer.Argument(..., help="B, the candidate, named the same ways"),
    device: str = typer.Option(
        None, "--device", "-d", help="inventory device (default: a stored job's, else the first)"
    ),
    rounds: int = typer.Option(
        DEFAULT_ROUNDS, "--rounds", "-n", help="interleaved rounds, measured in stages of this many"
    ),
    max_rounds: int = typer.Option(
        None, "--max-rounds", help="more stages while the rounds disagree, up to this (3x)"
    ),
    min_effect: str = typer.Option(
        "3", "--min-effect", help="smallest change in percent that counts (3 = 3%)"
    ),
    round_s: float = typer.Option(
        DEFAULT_ROUND_S, "--round-s", help="seconds each side is measured per round"
    ),
    seed: int = typer.Option(None, "--seed", help="seed of the rounds' order (default: random)"),
    plan: Path = typer.Option(None, "--plan", help="name A and B as MODEL/VARIANT/RUNTIME of it"),
    runtime: str = typer.Option(None, "--runtime", "-r", help="for model files: by format"),
    provider: list[str] = typer.Option(None, "--provider", "-p", help="for model files"),
    threads: int = typer.Option(0, "--threads", help="for model files: intra-op threads"),
    input_shape: list[str] = typer.Option(None, "--input", help="NAME=1x3x224x224"),
    value: list[str] = typer.Option(None, "--value", help="NAME=V: fill an input with V"),
    inputs: Path = typer.Option(None, "--inputs", help=".npz of input arrays by name"),
    fmt: CompareFormat = typer.Option(CompareFormat.table, "--format", "-f"),
    inventory: Path = InventoryOpt,
    store: Path = StoreOpt,
    work: Path = WorkOpt,
    git_sha: str = GitShaOpt,
    git_branch: str = GitBranchOpt,
    pull_request: str = PullRequestOpt,
) -> None:
    """Measure A and B in interleaved rounds on one device: is B slower?

    Each round runs A and B once each, back to back, in a random order,
    in fresh worker processes; the verdict rests on the rounds' ratios
    B/A and their interval. While the rounds are too spread to decide,
    more are measured (up to --max-rounds). Exit 0: same or faster. 1:
    slower by at least the minimum effect. 2: no verdict: the farm failed
    or was too noisy to decide (the message names the device and why),
    or bad input.

    Example: rigbench compare main/model.onnx pr/model.onnx -f markdown
    """
    use_flags(git_sha, git_branch, pull_request)
    limits.THREADS.at_least(0).check("--threads", threads, UsageError)
    settings = CompareSettings(
        rounds=rounds,
        max_rounds=max_rounds,
        min_effect=parse_percent(min_effect),
        round_s=round_s,
        seed=seed,
    )
    # Every file first, so a bad one is named before anything is measured.
    inv = load_inventory(inventory)
    the_plan = load_plan(plan) if plan is not None else None
    if inputs is not None:
        array_headers(inputs, f"--inputs {inputs}")
    work_folder = work_path(work)
    st = open_store(store, create=True)
    opts = RuntimeOptions(
        runtime=runtime,
        providers=tuple(provider or ()),
        threads=threads,
        inputs=_inputs(input_shape or [], value or []),
        inputs_npz=inputs,
    )
    subject_a, subject_b = resolve_subjects(a, b, st, opts, the_plan)
    quiet = output.quiet() or fmt != CompareFormat.table
    with ProgressPrinter(quiet=quiet, verbose=output.verbose()) as progress:
        result = asyncio.run(
            run_compare(
                subject_a,
                subject_b,
                inv,
                st,
                work_folder,
                settings,
                progress,
                device_name=device,
                context=current_context().to_dict(),
            )
        )
    render = {
        CompareFormat.table: render_table,
        CompareFormat.json: render_json,
        CompareFormat.markdown: render_markdown,
    }[fmt]
    typer.echo(render(result))
    raise typer.Exit(result.exit_code)
