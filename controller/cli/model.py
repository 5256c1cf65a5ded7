"""``rigbench model generate``: the built-in CNN as ONNX and TFLite, no download needed."""

from __future__ import annotations

from pathlib import Path

import typer

from rigbench.controller.cli import _ErrorsToExitCodes, app
from rigbench.controller.cli.common import folder_to_write

model_app = typer.Typer(
    cls=_ErrorsToExitCodes, help="Models rigbench can make itself.", no_args_is_help=True
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
) -> None:
    """Write the generated CNN (same weights as ONNX and TFLite).

    Example: rigbench model generate models/ --size tiny --slowdown 2
    """
    from rigbench.controller.modelgen import generate_cnn

    out_dir = folder_to_write(out_dir, "the output folder")
    m = generate_cnn(out_dir, size=size, seed=seed, slowdown=slowdown, dynamic_batch=dynamic_batch)
    typer.echo(f"{m.onnx_path}\n{m.tflite_path}")
