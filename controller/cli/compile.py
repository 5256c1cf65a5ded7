"""``rigbench compile``: make model variants now, with their lineage, without running them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, WorkOpt, file_is_missing, work_path
from rigbench.errors import PlanError
from rigbench.reports.tables import render

COLUMNS = [
    ("variant", "variant"),
    ("format", "format"),
    ("size_bytes", "bytes"),
    ("compile_ms", "compile ms"),
    ("cache_hit", "cache hit"),
    ("same_as", "same as"),
    ("sha256", "sha256"),
    ("path", "path"),
]


LIST_COLUMNS = [("variant", "variant"), ("source_format", "takes"), ("summary", "what it is")]


def _parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``int8-static`` or ``int8-static:per_channel=true,reduce_range=false``."""
    name, _, rest = text.partition(":")
    params: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise PlanError(f"--variant {text!r}: parameters are written key=value")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return name.strip(), params


@app.command("compile")
def compile_cmd(
    model: Path = typer.Argument(None, help=".onnx or .tflite source (not needed with --list)"),
    variant: list[str] = typer.Option(
        None,
        "--variant",
        help="variant name, optionally with parameters: int8-static:per_channel=true",
    ),
    calibration: Path = typer.Option(None, "--calibration", help=".npz of calibration inputs"),
    input_shape: list[str] = typer.Option(
        None, "--input", help="NAME=1x3x224x224 for dynamic dimensions"
    ),
    list_variants: bool = typer.Option(False, "--list", help="list the variants and exit"),
    work: Path = WorkOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
) -> None:
    """Compile variants of a model into the compile cache and print their lineage.

    Example: rigbench compile model.onnx --variant fp16 --variant int8-static:per_channel=true
    """
    from rigbench.controller.cli.bench import parse_shape
    from rigbench.controller.variants import VariantSpec, compile_variant, variant_listing

    if list_variants:
        typer.echo(render(variant_listing(), fmt.value, LIST_COLUMNS))
        return
    if model is None:
        raise PlanError("give the model file to compile (or --list to see the variants)")
    if not variant:
        raise PlanError("give at least one --variant (see --list)")
    if file_is_missing(model):
        raise PlanError(f"model file {model} does not exist")
    shapes = dict(parse_shape(s) for s in input_shape or [])
    calib = None
    if calibration is not None:
        from rigbench.controller.variants.signature import load_npz

        calib = load_npz(calibration)
    rows = []
    for text in variant:
        name, params = _parse_variant(text)
        cv = compile_variant(
            model,
            VariantSpec(name, params),
            work_path(work) / "compiled",
            input_shapes=shapes or None,
            calibration=calib,
        )
        rows.append(
            {
                "variant": cv.variant,
                "format": cv.format,
                "size_bytes": cv.size_bytes,
                "compile_ms": cv.compile_ms,
                "cache_hit": cv.cache_hit,
                "sha256": cv.sha256[:12] if fmt == Format.table else cv.sha256,
                "path": str(cv.path),
                "source_sha256": cv.source_sha256,
                "transform": cv.transform,
                "params": dict(cv.params),
                "tool_versions": dict(cv.tool_versions),
                "warnings": list(cv.warnings),
                "same_as": "the source (the quantizer changed nothing)"
                if cv.same_as_source
                else None,
            }
        )
        for w in cv.warnings:
            typer.echo(f"warning: {name}: {w}", err=True)
        if cv.same_as_source:
            typer.echo(
                f"note: {name}: same graph and weights as {model.name} (the quantizer changed "
                "nothing); a plan measures it once, as its parent",
                err=True,
            )
    typer.echo(render(rows, fmt.value, COLUMNS))
