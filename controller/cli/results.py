"""``rigbench results``: the results table of a run, from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, StoreOpt, open_store
from rigbench.controller.store import Store, queries
from rigbench.errors import StoreError, UsageError
from rigbench.failures import FailureKind
from rigbench.reports.emulated import EMULATED_NOTE, device_label
from rigbench.reports.load import load_line
from rigbench.reports.soak import soak_summary
from rigbench.reports.tables import render, to_text

RESULT_TABLE = [
    ("device", "device"),
    ("model", "model"),
    ("variant", "variant"),
    ("runtime_name", "runtime"),
    ("providers_used", "provider"),
    ("scenario", "scenario"),
    ("p50_ms", "p50 ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("mean_ms", "mean ms"),
    ("throughput_ips", "inf/s"),
    ("load_ms", "load ms"),
    ("first_inference_ms", "first ms"),
    ("peak_rss_mb", "peak RSS MB"),
    ("max_abs_err", "max abs err"),
    ("max_rel_err", "max rel err"),
    ("snr_db", "SNR dB"),
    ("cosine_similarity", "cosine"),
    ("top1_agreement", "top1"),
    ("avg_power_w", "power W"),
    ("energy_per_inference_mj", "mJ/inf"),
    ("throttled", "throttled"),
]


# The default table: what fits 100 columns. `--wide` shows RESULT_TABLE.
COMPACT_TABLE = [
    ("job", "job"),
    ("device", "device"),
    ("model", "model"),
    ("variant", "variant"),
    ("runtime_name", "runtime"),
    ("scenario", "scenario"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("throughput_ips", "inf/s"),
    ("peak_rss_mb", "RSS MB"),
    ("max_abs_err", "max err"),
    ("avg_power_w", "power W"),
]
# Columns that identify a result: when every row has the same value, it moves to the title.
FOLDABLE = ("device", "model", "scenario")
TABLE_WIDTH = 100


def compact(rows: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The compact table's columns, the facts shared by every row (for the title), and the
    figures no row has (said once below the table instead of a column of n/a).
    """
    cols, shared, missing = [], [], []
    for key, head in COMPACT_TABLE:
        values = {r.get(key) for r in rows}
        if key in FOLDABLE and len(values) == 1 and rows:
            shared.append(str(next(iter(values))))
        elif key not in FOLDABLE and values == {None} and rows:
            missing.append(head)
        else:
            cols.append((key, head))
    return cols, shared, missing


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures to the digits a reader compares, so the compact table stays narrow."""
    out = []
    for r in rows:
        r = {**r, "job": queries.short_job_id(r["job_id"])}
        for key, spec in (
            ("throughput_ips", ".1f"),
            ("peak_rss_mb", ".1f"),
            ("avg_power_w", ".2f"),
        ):
            if isinstance(r.get(key), float):
                r[key] = f"{r[key]:{spec}}"
        if isinstance(r.get("max_abs_err"), float):
            r["max_abs_err"] = f"{r['max_abs_err']:.2g}"
        out.append(r)
    return out


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if v is None else f"{v:{spec}}{unit}"


UNKNOWN = "unknown"
TASK_COLUMNS = [("task_top1", "top1 vs labels"), ("task_metric", "task metric")]


def _accuracy_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table cells that say what a bare number cannot: unknown accuracy, a guessed top-1."""
    out = []
    for r in rows:
        r = dict(r)
        if r.get("accuracy_unknown"):
            for k in ("max_abs_err", "max_rel_err", "snr_db", "cosine_similarity"):
                r[k] = UNKNOWN
        if r.get("top1_agreement") is not None and r.get("topk_kind_source") == "guess":
            r["top1_agreement"] = f"{r['top1_agreement']:.3f} (guess)"
        if r.get("task_top1") is not None and r.get("ref_task_top1") is not None:
            r["task_top1"] = f"{r['task_top1']:.3f} (fp32 {r['ref_task_top1']:.3f})"
        if r.get("task_metric") is not None and r.get("ref_task_metric") is not None:
            r["task_metric"] = f"{r['task_metric']:.4g} (fp32 {r['ref_task_metric']:.4g})"
        out.append(r)
    return out


def accuracy_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Below the table: every result whose accuracy is unknown or outside tolerance, and why."""
    lines = []
    for r in rows:
        where = f"{r['device']} {r['model']}/{r['variant']} on {r['runtime_name']}"
        if r.get("accuracy_unknown"):
            lines.append(f"  {where}: accuracy unknown: {r['accuracy_unknown']}")
        elif r.get("within_tolerance") is False:
            lines.append(f"  {where}: outside tolerance: {r.get('accuracy_reasons')}")
    return lines


def results_text(
    store_file: Path | Store | None, run_id: str | None, fmt: Format, wide: bool = False
) -> str:
    """The results of a run; ``store_file`` may be a store already open (run, bench)."""
    store = store_file if isinstance(store_file, Store) else open_store(store_file)
    with store.reading():
        return _results_text(store, run_id, fmt, wide)


def _results_text(store: Store, run_id: str | None, fmt: Format, wide: bool) -> str:
    run_id = queries.resolve_run(store, run_id) if run_id else queries.latest_run_id(store)
    if run_id is None:
        raise StoreError(
            "the store holds no run yet; run `rigbench run PLAN` or `rigbench bench MODEL`"
        )
    info = queries.run_info(store, run_id)
    rows = queries.results(store, run_id)
    columns = RESULT_TABLE + [c for c in TASK_COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    if fmt != Format.table:
        return render(rows, fmt.value, columns)
    title = (
        f"run {run_id} ({info['kind']}, plan {info['plan_name']}, {info['status']}): "
        f"{len(rows)} result(s)"
    )
    labelled = [dict(r, device=device_label(r["device"], r["emulated"])) for r in rows]
    cells = _accuracy_cells(labelled)
    if wide:
        text = render(cells, "table", [("job_id", "job"), *columns], title)
    else:
        shown = _rounded(cells)
        cols, shared, missing = compact(shown)
        task = [c for c in TASK_COLUMNS if any(r.get(c[0]) is not None for r in rows)]
        cols += task
        if shared:
            title += " on " + ", ".join(shared)
        text = to_text(
            shown, cols, title, max_width=TABLE_WIDTH, uncut=("job", *(k for k, _ in task))
        )
        if missing:
            text += f"\nnot available for any result: {', '.join(missing)}"
        text += "\n(--wide: every column; `rigbench timeline JOB` for one job over time)"
    acc_lines = accuracy_lines(rows)
    if acc_lines:
        text += "\naccuracy:\n" + "\n".join(acc_lines)
    if any(r["emulated"] for r in rows):
        text += "\n" + EMULATED_NOTE
    if any(r.get("simulated") for r in rows):
        text += (
            "\n(telemetry of simulated devices replays recorded data: its power and "
            "temperature figures are simulated)"
        )
    soaks = queries.soak_results(store, run_id)
    for s in soaks:
        sm = soak_summary(s["soak_windows_json"], s["telemetry_json"])
        text += (
            f"\nsoak {s['device']} {s['model']}/{s['variant']} on {s['runtime_name']}: "
            f"{sm['windows']} windows, initial {_fmt(sm['initial_ips'], '.1f')} inf/s, "
            f"sustained {_fmt(sm['sustained_ips'], '.1f')} inf/s "
            f"(ratio {_fmt(sm['sustained_ratio'], '.3f')}), first throttle at "
            f"{_fmt(sm['first_throttle_s'], '.1f', ' s')}, peak "
            f"{_fmt(sm['peak_temp_c'], '.1f', ' C')}"
            + (" [simulated telemetry]" if sm["simulated"] else "")
        )
    for h in queries.load_headlines(store, run_id):
        text += "\n" + load_line(h)
    for sk in queries.skipped_jobs(store, run_id):
        text += f"\nnot measured: {sk['model']}/{sk['variant']}: {sk['error_message']}"
    failed = queries.failed_jobs(store, run_id)
    if failed:
        text += f"\n{len(failed)} job(s) failed:"
        for f in failed:
            kind = FailureKind.parse(f["error_kind"])
            text += (
                f"\n  {f['device']} {f['model']}/{f['variant']} on {f['runtime_name']}: "
                f"{f['error_kind']} ({kind.blame.phrase}): {f['error_message']}"
            )
    return text


@app.command("results")
def results_cmd(
    run_id: str = typer.Argument(None, help="run id or a unique prefix (default: the latest)"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    wide: bool = typer.Option(False, "--wide", help="every column (the table is wider than 100)"),
    store: Path = StoreOpt,
) -> None:
    """Show a run's results: latency percentiles, throughput, load, memory, accuracy, power.

    The table fits 100 columns; --wide shows every column, --format json or
    csv every field.

    Example: rigbench results --format csv > results.csv
    """
    typer.echo(results_text(store, run_id, fmt, wide))


@app.command("runs")
def runs_cmd(
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
    limit: int = typer.Option(20, "--limit"),
) -> None:
    """List recent runs in the store, with what each one concluded.

    The outcome of a nightly is its verdict (farm failed, regression, no
    regression); of any other run, its status.

    Example: rigbench runs --limit 5
    """
    from rigbench.controller.nightly.evaluate import BAD_DEVICE_STATES

    rows = queries.runs(open_store(store), limit, sorted(BAD_DEVICE_STATES))
    for r in rows:
        r["started_at"] = r["started_at"].replace(microsecond=0)
    if fmt == Format.table:
        rows = [{**r, "code": code_cell(r)} for r in rows]
    typer.echo(
        render(
            rows,
            fmt.value,
            [
                ("run_id", "run"),
                ("kind", "kind"),
                ("plan_name", "plan"),
                ("outcome", "outcome"),
                ("started_at", "started (UTC)"),
                ("jobs", "jobs"),
                ("failed", "failed"),
                ("results", "results"),
                ("code", "code (git, branch, PR)"),
            ],
        )
    )


def code_cell(row: dict[str, object]) -> str | None:
    """`1a2b3c4d5 main #12`: the run's git context in one short cell (None: not known)."""
    parts = [
        str(row["git_sha"])[:9] if row.get("git_sha") else "",
        str(row["git_branch"] or ""),
        f"#{row['pull_request']}" if row.get("pull_request") else "",
    ]
    text = " ".join(p for p in parts if p)
    return text or None


TIMELINE = [
    ("t_s", "t s"),
    ("iterations", "iterations"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("cpu_util_pct", "cpu %"),
    ("temp_c", "temp C"),
    ("clock_mhz", "clock MHz"),
    ("power_w", "power W"),
    ("throttled", "throttled"),
]


@app.command("timeline")
def timeline_cmd(
    job_id: str = typer.Argument(
        ..., help="job id, or a unique prefix of it or of its short form (`rigbench results`)"
    ),
    bucket_s: float = typer.Option(1.0, "--bucket", help="seconds per row"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    store: Path = StoreOpt,
) -> None:
    """One job's latency, temperature, clock and power over time, read back from the store.

    Example: rigbench timeline a823.5f0c1d2e --bucket 10
    """
    if not bucket_s >= 1e-6:
        raise UsageError(f"--bucket: {bucket_s} s is too small; give at least 0.000001 (1 µs)")
    st = open_store(store)
    rows = queries.timeline(st, queries.resolve_job(st, job_id), bucket_s)
    typer.echo(render(rows, fmt.value, TIMELINE))
