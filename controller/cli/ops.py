"""``rigbench ops JOB``: where one job's time goes, operator by operator, and where it ran."""

from __future__ import annotations

from pathlib import Path

import typer

from rigbench.controller import ops
from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, StoreOpt, open_store
from rigbench.controller.store import ops as stored
from rigbench.controller.store.queries import resolve_job
from rigbench.errors import StoreError
from rigbench.reports.tables import render

TOP = [
    ("node", "node"),
    ("op_type", "op type"),
    ("exec_unit", "unit"),
    ("kernel", "kernel"),
    ("calls", "calls"),
    ("mean_us", "mean us"),
    ("ms_per_inference", "ms/inf"),
    ("share_pct", "share %"),
]


def _compare_columns(by: str) -> list[tuple[str, str]]:
    return [
        (by, "node" if by == "node" else "op type"),
        ("nodes_a", "nodes A"),
        ("nodes_b", "nodes B"),
        ("ms_a", "A ms/inf"),
        ("ms_b", "B ms/inf"),
        ("delta_ms", "B-A ms"),
        ("ratio", "B/A"),
        ("share_a_pct", "A share %"),
        ("share_b_pct", "B share %"),
    ]


def _load(store_path: Path | None, text: str) -> tuple[str, stored.StoredProfile]:
    store = open_store(store_path)
    job_id = resolve_job(store, text)
    found = stored.profile_of(store, job_id)
    if found is None:
        raise StoreError(
            f"job {job_id} has no operator profile; measure with `profile: true` on the runtime "
            "entry or `rigbench bench --profile`"
        )
    return job_id, found


def _label(sp: stored.StoredProfile) -> str:
    h = sp.head
    return f"{h['device']} / {h['model']} / {h['variant']} / {h['runtime_name']}"


@app.command("ops")
def ops_cmd(
    job_id: str = typer.Argument(..., help="job id, its short form, or a unique prefix of either"),
    compare: str = typer.Option(None, "--compare", "-c", help="a second job to compare with"),
    top: int = typer.Option(15, "--top", "-n", min=0, help="operators to show (0: all)"),
    by: str = typer.Option(
        "op_type", "--by", help="compare by op_type (across variants) or node (same graph)"
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """The operators a profiled job spent its time in, and where they ran.

    With --compare, the operators whose time per inference changed most between two jobs of
    the same model (two devices, variants or runtimes).

    Example: rigbench ops 20261124T010302Z-a823.5f0c --compare 20261124T010302Z-a823.9b1e
    """
    if by not in ("op_type", "node"):
        raise StoreError(f"--by takes op_type or node, not {by!r}")
    job_a, a = _load(store, job_id)
    if compare is None:
        rows = ops.top(a.profile, top)
        title = (
            f"{job_a}: {_label(a)}: {a.profile.iterations} profiled run(s), "
            f"{a.total_ms_per_inference:.3f} ms of operator time per inference"
        )
        if fmt != Format.table:
            typer.echo(render(rows, fmt.value, TOP))
            return
        typer.echo(render(rows, fmt.value, TOP, title))
        typer.echo("")
        for line in ops.placement_lines(a.profile):
            typer.echo(line)
        typer.echo(
            f"profiling pass: {a.profile.iterations} run(s) in "
            f"{a.profile.wall_ns / 1e9:.2f} s, after the timed loop (not part of its figures)"
        )
        return
    job_b, b = _load(store, compare)
    if a.head["model"] != b.head["model"]:
        typer.echo(
            f"note: the jobs measured different models ({a.head['model']}, {b.head['model']})",
            err=True,
        )
    rows = ops.compare(
        ops.Side(job_a, a.profile),
        ops.Side(job_b, b.profile),
        top,
        by,  # type: ignore[arg-type]
    )
    cols = _compare_columns(by)
    if fmt != Format.table:
        typer.echo(render(rows, fmt.value, cols))
        return
    title = (
        f"A = {job_a}: {_label(a)} ({a.total_ms_per_inference:.3f} ms/inf of operators)\n"
        f"B = {job_b}: {_label(b)} ({b.total_ms_per_inference:.3f} ms/inf of operators)"
    )
    typer.echo(render(rows, fmt.value, cols, title))
