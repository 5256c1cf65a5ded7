"""``rigbench model generate``: the built-in CNN as ONNX and TFLite, no download needed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rigbench.controller.cli import RigbenchGroup, app
from rigbench.controller.cli.common import Format, folder_to_write
from rigbench.reports.tables import to_csv

model_app = typer.Typer(
    cls=RigbenchGroup, help="Models rigbench can make itself.", no_args_is_help=True
)
app.add_typer(model_app, name="model")


@model_app.command("generate")
def generate_cmd(
    out_dir: Path = typer.Argument(..., help="folder to write the .onnx and .tflite files to"),
    size: str = typer.Option(
        "small",
        "--size",
        help="micro (~3 KB, for harness benchmarks), tiny (~0.1 ms) or small (~2 ms)",
    ),
    seed: int = typer.Option(0, "--seed"),
    slowdown: int = typer.Option(
        0,
        "--slowdown",
        help="add N cancelling conv pairs: a deliberately slower model with identical outputs",
    ),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="json: the two paths"),
) -> None:
    """Write the generated CNN (same weights as ONNX and TFLite).

    Example: rigbench model generate models/ --size tiny --slowdown 2
    """
    from rigbench.controller.modelgen import generate_cnn

    out_dir = folder_to_write(out_dir, "the output folder")
    m = generate_cnn(out_dir, size=size, seed=seed, slowdown=slowdown, dynamic_batch=dynamic_batch)
    if fmt is Format.table:
        typer.echo(f"{m.onnx_path}\n{m.tflite_path}")
    else:
        rows = [{"onnx": str(m.onnx_path), "tflite": str(m.tflite_path)}]
        typer.echo(json.dumps(rows[0], indent=2) if fmt is Format.json else to_csv(rows), nl=True)
