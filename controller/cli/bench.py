"""``rigbench bench MODEL``: benchmark one model file now, through an agent, into the store.

What ``onnxruntime_perf_test`` or LiteRT's ``benchmark_model`` do, but on any inventory
device and with every iteration kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

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
    file_is_missing,
    open_store,
    work_path,
)
from rigbench.controller.progress import ProgressPrinter
from rigbench.errors import PlanError, RigbenchError, UsageError

if TYPE_CHECKING:
    from rigbench.controller.plan import Plan

# Start-up matters here (a script may bench 100 small models): the heavy modules (the plan's
# models, DuckDB, gRPC, ONNX checks) are imported inside the command, after the local agent
# has been spawned, so that its start-up overlaps with theirs.


def parse_shape(text: str) -> tuple[str, list[int]]:
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise PlanError(f"--input takes NAME=1x3x224x224, got {text!r}")
    try:
        shape = [int(d) for d in dims.lower().split("x")] if dims.strip() else []
    except ValueError:
        raise PlanError(f"--input {text!r}: dimensions must be integers separated by 'x'") from None
    for d in shape:
        limits.INPUT_DIM.check(f"--input {text!r}", d, UsageError)
    return name, shape


def parse_value(text: str) -> tuple[str, float]:
    name, sep, v = text.rpartition("=")
    if not sep or not name:
        raise PlanError(f"--value takes NAME=VALUE, got {text!r}")
    try:
        value = float(v)
    except ValueError:
        raise PlanError(f"--value {text!r}: {v!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"--value {text!r}: {v} is not a finite number")
    return name, value


def parse_option(text: str) -> tuple[str, str]:
    name, sep, v = text.partition("=")
    if not sep or not name:
        raise PlanError(f"--option takes KEY=VALUE, got {text!r}")
    return name, v


def bench_plan(
    model: Path,
    runtime: str | None,
    providers: list[str],
    threads: int,
    shapes: list[str],
    values: list[str],
    inputs_npz: Path | None,
    iterations: int | None,
    duration: float | None,
    warmup: int,
    allow_cpu_fallback: bool,
    profile: bool = False,
    options: list[str] | None = None,
) -> Plan:
    for option, value, limit in (
        ("--iterations", iterations, limits.ITERATIONS.at_least(1)),
        ("--duration", duration, limits.DURATION_S.at_least(0)),
        ("--warmup", warmup, limits.ITERATIONS.at_least(0)),
        ("--threads", threads, limits.THREADS.at_least(0)),
    ):
        if value is not None:
            limit.check(option, value, UsageError)
    if file_is_missing(model):
        raise PlanError(f"model file {model} does not exist")
    from rigbench.agent.npzfile import array_headers
    from rigbench.agent.runtimes import descriptor, runtimes_for_format
    from rigbench.controller.plan import Plan
    from rigbench.controller.variants.formats import check_model
    from rigbench.controller.variants.identity import AS_GIVEN
    from rigbench.controller.yamlfile import validate

    fmt = check_model(model)  # the whole file, so a truncated one fails here, in one line
    if runtime is None:
        takers = runtimes_for_format(fmt)
        if not takers:
            raise PlanError(f"{model} is a {fmt} model, which no registered runtime loads")
        runtime = takers[0].name
    try:
        takes = descriptor(runtime).formats
    except RigbenchError as e:
        raise PlanError(f"--runtime: {e}") from None
    if fmt not in takes:
        raise PlanError(
            f"{model} is a {fmt} model; runtime {runtime} runs {', '.join(takes)} models"
        )
    if inputs_npz is not None:
        array_headers(inputs_npz, f"--inputs {inputs_npz}")
    inputs: dict[str, dict[str, object]] = {}
    for s in shapes:
        name, shape = parse_shape(s)
        inputs.setdefault(name, {})["shape"] = shape
    for v in values:
        name, val = parse_value(v)
        inputs.setdefault(name, {})["value"] = val
    measurement: dict[str, object] = {"warmup_iterations": warmup}
    if iterations is not None:
        measurement.update(
            min_iterations=iterations,
            max_iterations=iterations,
            min_duration_s=0.0,
            max_duration_s=3600.0,
        )
    if duration is not None:
        measurement.update(min_duration_s=duration, max_duration_s=max(duration * 2, duration + 5))
        if iterations is None:
            measurement["min_iterations"] = 1
    return validate(
        Plan,
        {
            "name": f"bench {model.name}",
            "models": [
                {
                    "name": model.stem,
                    "path": str(model.resolve()),
                    "inputs": inputs,
                    "inputs_npz": str(inputs_npz.resolve()) if inputs_npz else None,
                    "variants": [AS_GIVEN[fmt]],
                    "accuracy": {"samples": 0},
                }
            ],
            "runtimes": [
                {
                    "name": runtime,
                    "runtime": runtime,
                    "providers": providers,
                    "threads": threads,
                    "allow_cpu_fallback": allow_cpu_fallback,
                    "profile": profile,
                    "options": dict(parse_option(o) for o in options or []),
                }
            ],
            "measurement": measurement,
            "retries": 0,
        },
        {},
        Path("bench"),
        PlanError,
    )


def _runtime_help() -> str:
    from rigbench.agent.runtimes import runtime_names

    return f"{' | '.join(runtime_names())} (default: by the file's format)"


def _provider_help() -> str:
    from rigbench.agent.runtimes import descriptors

    listing = "; ".join(
        f"{d.name} {d.provider_word}: {' | '.join(d.providers)}" for d in descriptors().values()
    )
    return f"where it runs (repeat for priority): {listing}"


_RUNTIME_HELP = _runtime_help()
_PROVIDER_HELP = _provider_help()


@app.command("bench")
def bench_cmd(
    model: Path = typer.Argument(..., help=".onnx or .tflite file"),
    device: str = typer.Option(
        None, "--device", "-d", help="inventory device (default: the first)"
    ),
    runtime: str = typer.Option(None, "--runtime", "-r", help=_RUNTIME_HELP),
    provider: list[str] = typer.Option(None, "--provider", "-p", help=_PROVIDER_HELP),
    threads: int = typer.Option(0, "--threads", help="intra-op threads (default: the runtime's)"),
    input_shape: list[str] = typer.Option(
        None, "--input", help="NAME=1x3x224x224: resolve dynamic dimensions"
    ),
    value: list[str] = typer.Option(None, "--value", help="NAME=V: fill an input with V"),
    inputs: Path = typer.Option(None, "--inputs", help=".npz of input arrays by name"),
    iterations: int = typer.Option(None, "--iterations", "-n", help="measure exactly N"),
    duration: float = typer.Option(None, "--duration", help="measure at least S seconds"),
    warmup: int = typer.Option(10, "--warmup"),
    allow_cpu_fallback: bool = typer.Option(False, "--allow-cpu-fallback"),
    profile: bool = typer.Option(
        False, "--profile", help="a per-operator profiling pass after the timed loop (see ops)"
    ),
    option: list[str] = typer.Option(
        None, "--option", "-o", help="KEY=VALUE runtime option (e.g. inference_precision=f32)"
    ),
    inventory: Path = InventoryOpt,
    store: Path = StoreOpt,
    work: Path = WorkOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    git_sha: str = GitShaOpt,
    git_branch: str = GitBranchOpt,
    pull_request: str = PullRequestOpt,
) -> None:
    """Benchmark one model file on one device now, and store the result.

    Exit code 0: measured. 1: the model failed for its own reasons (it cannot
    be loaded, or the runtime cannot run it with these inputs). 2: the farm
    failed (the device unreachable or busy, its disk full...) or bad input.

    Example: rigbench bench model.onnx --input input=1x3x224x224 --value sr=16000 -n 500
    """
    use_flags(git_sha, git_branch, pull_request)
    from rigbench.controller.inventory import load_inventory

    inv = load_inventory(inventory)
    names = [device] if device else [inv.devices[0].name]
    with contextlib.suppress(RigbenchError):  # best effort; the run reports any problem
        from rigbench.controller.connect import prestart_local_agents

        prestart_local_agents([inv.get(n) for n in names], work_path(work))
    try:
        plan = bench_plan(
            model,
            runtime,
            provider or [],
            threads,
            input_shape or [],
            value or [],
            inputs,
            iterations,
            duration,
            warmup,
            allow_cpu_fallback,
            profile,
            option or [],
        )
        from rigbench.controller.cli.results import results_text
        from rigbench.controller.dispatch import RunRequest, execute_plan

        req = RunRequest(
            plan=plan,
            inventory=inv,
            store=open_store(store, create=True),
            work=work_path(work),
            kind="bench",
            device_names=names,
        )
        quiet = fmt != Format.table or output.quiet()
        with ProgressPrinter(quiet=quiet, verbose=output.verbose()) as progress:
            outcome = asyncio.run(execute_plan(req, progress))
        typer.echo(results_text(req.store, outcome.run_id, fmt))
        raise typer.Exit(outcome.exit_code)
    finally:
        from rigbench.controller.local_agent import discard_unadopted

        discard_unadopted()  # one a bad input stopped before the run adopted it
