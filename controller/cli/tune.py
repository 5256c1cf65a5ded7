"""``rigbench tune MODEL|PLAN``: find the best configuration of a model on each device."""

from __future__ import annotations

import asyncio
import math
from enum import Enum
from pathlib import Path

import typer

from rigbench import limits
from rigbench.controller.cli import app, output
from rigbench.controller.cli.bench import parse_shape
from rigbench.controller.cli.common import (
    InventoryOpt,
    StoreOpt,
    WorkOpt,
    file_is_missing,
    open_store,
    work_path,
)
from rigbench.controller.inventory import load_inventory
from rigbench.controller.plan import Plan, load_plan
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import queries
from rigbench.controller.tune.objectives import ObjectiveName
from rigbench.controller.tune.race import Constraints
from rigbench.controller.tune.space import Narrowing, check_narrowing
from rigbench.controller.yamlfile import validate
from rigbench.errors import PlanError, UsageError

# What tune tries of a model file when no --variant is given: the source as given and the
# variants that need nothing but the file (no calibration data, no TFLite twin).
DEFAULT_VARIANTS = {
    "onnx": ["fp32", "fp16", "int8-dynamic"],
    "tflite": ["tflite-fp32", "tflite-int8-dynamic"],
}
PLAN_SUFFIXES = (".yaml", ".yml")


class TuneFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _settings(items: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"--set takes KNOB=V1,V2 (e.g. graph_optimization=basic,all), got {item!r}"
            )
        out[name.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
    return out


def _check_numbers(
    budget_s: float, latency_ms: float | None, percentile: float, max_error: float | None,
    threads: list[int],
) -> None:  # fmt: skip
    limits.TUNE_BUDGET_S.at_least(1).check("--budget-s", budget_s, UsageError)
    if latency_ms is not None:
        limits.Limit(limits.DAY_S * 1000, "a latency bound of a day", minimum=0).check(
            "--latency-ms", latency_ms, UsageError
        )
    if not (math.isfinite(percentile) and 0 < percentile < 100):
        raise UsageError(f"--percentile: {percentile} is not above 0 and below 100")
    if max_error is not None and not (math.isfinite(max_error) and max_error >= 0):
        raise UsageError(f"--max-error: {max_error} is not a finite number of at least 0")
    for t in threads:
        limits.THREADS.at_least(1).check("--threads", t, UsageError)


def model_plan(model: Path, shapes: list[str], variants: list[str] | None) -> Plan:
    """A plan of one model file, with the variants tune tries by default."""
    from rigbench.controller.variants.formats import check_model

    fmt = check_model(model)  # the whole file: a truncated one fails here, in one line
    inputs: dict[str, dict[str, object]] = {}
    for s in shapes:
        name, shape = parse_shape(s)
        inputs.setdefault(name, {})["shape"] = shape
    return validate(
        Plan,
        {
            "name": f"tune {model.name}",
            "models": [
                {
                    "name": model.stem,
                    "path": str(model.resolve()),
                    "inputs": inputs,
                    "variants": variants or DEFAULT_VARIANTS.get(fmt, []),
                }
            ],
            "runtimes": [{"name": "any", "runtime": "onnxruntime"}],  # unused: tune's own
        },
        {},
        Path("tune"),
        PlanError,
    )


def plan_to_tune(
    source: Path, model_name: str | None, shapes: list[str], variants: list[str] | None
) -> Plan:
    """The plan ``rigbench tune`` works from: the given plan narrowed to one model, or a plan
    made for a model file.
    """
    if file_is_missing(source):
        raise PlanError(f"{source} does not exist")
    if source.suffix.lower() not in PLAN_SUFFIXES:
        if model_name:
            raise UsageError("--model picks a model of a plan; a model file is one model")
        return model_plan(source, shapes, variants)
    if shapes:
        raise UsageError("--input applies to a model file; a plan gives its models' inputs")
    plan = load_plan(source)
    names = [m.name for m in plan.models]
    if model_name is None and len(names) > 1:
        raise UsageError(
            f"plan {plan.name!r} has {len(names)} models ({', '.join(names)}): tune one at a "
            "time with --model NAME"
        )
    chosen = next((m for m in plan.models if m.name == (model_name or names[0])), None)
    if chosen is None:
        raise UsageError(
            f"--model: plan {plan.name!r} has no model {model_name!r}; it has {', '.join(names)}"
        )
    if variants:
        chosen = chosen.model_copy(update={"variants": list(variants)})
    return plan.model_copy(update={"models": [chosen]})


@app.command("tune")
def tune_cmd(
    model: Path = typer.Argument(..., help="model file (.onnx, .tflite) or plan YAML"),
    device: list[str] = typer.Option(None, "--device", "-d", help="only these devices"),
    budget_s: float = typer.Option(
        300.0, "--budget-s", help="device seconds per device, everything included"
    ),
    objective: ObjectiveName = typer.Option(
        ObjectiveName.latency, "--objective", help="what to minimise: latency, cost or energy"
    ),
    latency_ms: float = typer.Option(
        None, "--latency-ms", help="latency bound the recommendation must meet, at --percentile"
    ),
    percentile: float = typer.Option(99.0, "--percentile", help="percentile of --latency-ms"),
    max_error: float = typer.Option(
        None, "--max-error", help="max abs error vs the fp32 source the recommendation may have"
    ),
    model_name: str = typer.Option(None, "--model", "-m", help="the plan's model to tune"),
    variant: list[str] = typer.Option(None, "--variant", help="only these variants"),
    runtime: list[str] = typer.Option(None, "--runtime", "-r", help="only these runtimes"),
    provider: list[str] = typer.Option(
        None, "--provider", "-p", help="only these providers/delegates"
    ),
    threads: list[int] = typer.Option(None, "--threads", help="only these thread counts"),
    setting: list[str] = typer.Option(
        None, "--set", help="KNOB=V1,V2: the values of a runtime knob to try (docs/tune.md)"
    ),
    input_shape: list[str] = typer.Option(
        None, "--input", help="NAME=1x3x224x224: resolve a model file's dynamic dimensions"
    ),
    dest: Path = typer.Option(None, "--out", "-o", help="write the tuned plan here (YAML)"),
    resume: str = typer.Option(
        None, "--resume", help="go on with an interrupted tune (same arguments, its run id)"
    ),
    inventory: Path = InventoryOpt,
    store: Path = StoreOpt,
    work: Path = WorkOpt,
    fmt: TuneFormat = typer.Option(TuneFormat.table, "--format", "-f"),
) -> None:
    """Find the best configuration of a model on each device, within a time budget.

    Short measurements of every configuration first (variant x runtime x
    provider x threads x runtime knobs), then longer ones for those whose
    interval does not yet show they cannot be best (docs/tune.md). Every
    trial is a job of a run of kind tune in the store.

    Exit code 0: a recommendation on every device. 1: some device has none
    (every configuration failed or broke a constraint). 2: a device could
    not be tuned (unreachable, nothing measured), or bad input.

    Example: rigbench tune model.onnx --budget-s 120 --latency-ms 5 --out tuned.yaml
    """
    from rigbench.controller.tune.driver import TuneRequest, execute_tune
    from rigbench.controller.tune.summary import summarize
    from rigbench.controller.tune.tuned_plan import write_tuned_plan
    from rigbench.reports.tune import render_json, render_markdown, render_text

    _check_numbers(budget_s, latency_ms, percentile, max_error, threads or [])
    settings = _settings(setting or [])
    plan = plan_to_tune(model, model_name, input_shape or [], variant or None)
    if dest is not None and (dest.is_dir() or not dest.parent.is_dir()):
        raise UsageError(f"--out {dest}: not a file in an existing folder")
    narrowing = Narrowing(
        runtimes=tuple(runtime) if runtime else None,
        providers=tuple(provider) if provider else None,
        threads=tuple(threads) if threads else None,
        settings=settings,
    )
    check_narrowing(narrowing)
    inv = load_inventory(inventory)
    st = open_store(store, create=True)
    req = TuneRequest(
        plan=plan,
        inventory=inv,
        store=st,
        work=work_path(work),
        budget_s=budget_s,
        objective=objective,
        constraints=Constraints(latency_ms, percentile, max_error),
        narrowing=narrowing,
        device_names=device or None,
        resume_run_id=queries.resolve_run(st, resume) if resume else None,
    )
    quiet = output.quiet() or fmt != TuneFormat.table
    with ProgressPrinter(quiet=quiet, verbose=output.verbose()) as progress:
        result = asyncio.run(execute_tune(req, progress))
    summaries = summarize(result)
    if fmt == TuneFormat.json:
        typer.echo(render_json(summaries, result.run_id))
    elif fmt == TuneFormat.markdown:
        typer.echo(render_markdown(summaries, result.run_id))
    else:
        typer.echo(render_text(summaries, result.run_id))
    if dest is not None:
        written = write_tuned_plan(result, dest)
        if not output.quiet():
            typer.echo(
                f"tuned plan written to {dest}: rigbench run {dest}"
                if written
                else f"no recommendation on any device: {dest} not written",
                err=True,
            )
    raise typer.Exit(result.exit_code)
