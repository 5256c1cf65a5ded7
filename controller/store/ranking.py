"""Read what ranking and the report need from the store, set-based in DuckDB.

A store can hold tens of millions of per-iteration samples, so nothing here loops over samples
in Python: counts, means, quantiles, histograms and telemetry downsampling are aggregates in
SQL. The exact order-statistic interval of a percentile takes two aggregate passes: the
first reads a few `quantile_disc` levels around q per job, the second ranks only the samples
between the two levels that bracket the ranks the interval needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from rigbench.controller.store.load import LoadPointRow
from rigbench.errors import ReportError
from rigbench.failures import Blame, FailureKind
from rigbench.stats import Interval, mean_ci, quantile_ci_ranks

# Offsets around q read in the first pass; the second pass ranks only between two of them.
_BRACKET_OFFSETS = (0.001, 0.004, 0.016, 0.064, 0.256)
HIST_RANGE = (0.001, 0.999)  # histograms span p0.1..p99.9 of all choices; tails are clamped


@dataclass(frozen=True)
class RunSummary:
    """The run a report is about, with enough to say whether it is complete."""

    run_id: str
    kind: str
    plan_name: str | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    jobs_total: int
    jobs_done: int
    jobs_failed: int
    results: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "plan_name": self.plan_name,
            "status": self.status,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "jobs_total": self.jobs_total,
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "results": self.results,
        }


_RUN_SQL = """
    SELECT r.run_id, r.kind, r.plan_name, r.status, r.started_at, r.finished_at,
        (SELECT count(*) FROM jobs j WHERE j.run_id = r.run_id) AS jobs_total,
        (SELECT count(*) FROM jobs j WHERE j.run_id = r.run_id AND j.status = 'done') AS done,
        (SELECT count(*) FROM jobs j WHERE j.run_id = r.run_id AND j.status = 'failed') AS failed,
        (SELECT count(*) FROM results x WHERE x.run_id = r.run_id
            AND (CAST(? AS VARCHAR) IS NULL OR x.model = ?)) AS results
    FROM runs r
"""


def _summary(row: tuple[Any, ...]) -> RunSummary:
    run_id, kind, plan_name, status, started_at, finished_at = row[:6]
    return RunSummary(
        run_id,
        kind,
        plan_name,
        status,
        started_at,
        finished_at,
        int(row[6]),
        int(row[7]),
        int(row[8]),
        int(row[9]),
    )


@dataclass(frozen=True)
class JobNote:
    """A job of the run without a result (failed) or not measured on purpose (skipped)."""

    device: str
    model: str
    variant: str
    runtime_name: str
    kind: str
    message: str

    @property
    def label(self) -> str:
        where = "" if self.device == "*" else f"{self.device} / "
        runtime = "" if self.runtime_name == "*" else f" / {self.runtime_name}"
        return f"{where}{self.model}/{self.variant}{runtime}"

    def to_dict(self) -> dict[str, str]:
        return {
            "device": self.device,
            "model": self.model,
            "variant": self.variant,
            "runtime_name": self.runtime_name,
            "kind": self.kind,
            "message": self.message,
        }


def job_notes(con: duckdb.DuckDBPyConnection, run_id: str, status: str) -> list[JobNote]:
    """Every job of the run with ``status`` ('failed' or 'skipped'), with its reason."""
    rows = con.execute(
        "SELECT device, model, variant, runtime_name, coalesce(error_kind, ''), "
        "coalesce(error_message, '') FROM jobs WHERE run_id = ? AND status = ? "
        "ORDER BY model, variant, device, runtime_name",
        [run_id, status],
    ).fetchall()
    return [JobNote(*r) for r in rows]


def pick_run(
    con: duckdb.DuckDBPyConnection, run_id: str | None, model: str | None
) -> tuple[RunSummary, list[str]]:
    """The run to report on, and notes the reader must see (a run still in progress, jobs
    that failed and whose fault that was).
    """
    run, notes = _pick_run(con, run_id, model)
    failed = failures_note(con, run)
    return run, notes + ([failed] if failed else [])


def failures_note(con: duckdb.DuckDBPyConnection, run: RunSummary) -> str | None:
    """``2 job(s) failed, not ranked: 1 the model's own error (runtime), 1 a farm failure
    (unreachable)``: what a ranking misses, and whose fault that was.
    """
    if not run.jobs_failed:
        return None
    rows = con.execute(
        "SELECT error_kind, count(*) FROM jobs WHERE run_id = ? AND status = 'failed' "
        "GROUP BY 1 ORDER BY 1",
        [run.run_id],
    ).fetchall()
    by_blame: dict[Blame, dict[str, int]] = {}
    for kind_name, n in rows:
        kind = FailureKind.parse(kind_name)
        by_blame.setdefault(kind.blame, {})[kind_name or kind.value] = int(n)
    parts = [
        f"{sum(kinds.values())} {blame.phrase} ({', '.join(kinds)})"
        for blame, kinds in sorted(by_blame.items(), key=lambda b: b[0].value)
    ]
    return (
        f"{run.jobs_failed} job(s) failed and are not ranked: {'; '.join(parts)}; "
        f"`rigbench results {run.run_id}` lists them with their messages"
    )


def _pick_run(
    con: duckdb.DuckDBPyConnection, run_id: str | None, model: str | None
) -> tuple[RunSummary, list[str]]:
    """The run to report on, and notes the reader must see (a run still in progress).

    Without ``run_id``: the latest run that is no longer running and has results (for
    ``model`` if given); a newer run still in progress is named so it is not overlooked.
    """
    notes: list[str] = []
    if run_id is not None:
        row = con.execute(_RUN_SQL + " WHERE r.run_id = ?", [model, model, run_id]).fetchone()
        if row is None:
            recent = [
                r[0]
                for r in con.execute(
                    "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 5"
                ).fetchall()
            ]
            raise ReportError(
                f"no run {run_id!r} in the store; recent runs: {', '.join(recent) or '(none)'}"
            )
        run = _summary(row)
        if run.results == 0:
            what = f" for model {model!r}" if model else ""
            state = (
                f"it is still in progress ({run.jobs_done} of {run.jobs_total} jobs done)"
                if run.status == "running"
                else f"its status is {run.status}"
            )
            raise ReportError(f"run {run_id} has no results{what} yet: {state}")
        if run.status == "running":
            notes.append(_in_progress(run))
        return run, notes
    rows = con.execute(_RUN_SQL + " ORDER BY r.started_at DESC", [model, model]).fetchall()
    if not rows:
        raise ReportError(
            "the store holds no run yet: run `rigbench run plans/demo.yaml` (or `make demo`) "
            "first, or point --store at another store"
        )
    runs = [_summary(r) for r in rows]
    latest = runs[0]
    usable = [r for r in runs if r.results > 0 and r.status != "running"]
    if usable:
        run = usable[0]
        if latest.status == "running" and latest.run_id != run.run_id:
            notes.append(
                f"run {latest.run_id} is still in progress ({latest.jobs_done} of "
                f"{latest.jobs_total} jobs done); showing the latest finished run "
                f"{run.run_id}. Use --run {latest.run_id} to see its partial results."
            )
        return run, notes
    partial = [r for r in runs if r.results > 0]
    if partial:
        notes.append(_in_progress(partial[0]))
        return partial[0], notes
    what = f" for model {model!r}" if model else ""
    if latest.status == "running":
        raise ReportError(
            f"no results{what} yet: run {latest.run_id} is still in progress "
            f"({latest.jobs_done} of {latest.jobs_total} jobs done); try again when it has "
            "stored a result"
        )
    raise ReportError(f"no run in the store has results{what}; check `rigbench runs`")


def _in_progress(run: RunSummary) -> str:
    return (
        f"run {run.run_id} is still in progress ({run.jobs_done} of {run.jobs_total} jobs "
        "done): these figures are partial and may change"
    )


def models_in_run(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT model FROM results WHERE run_id = ? ORDER BY model", [run_id]
    ).fetchall()
    return [r[0] for r in rows]


def pick_model(con: duckdb.DuckDBPyConnection, run_id: str, model: str | None) -> str:
    """The model to rank: the one asked for, or the run's only model."""
    models = models_in_run(con, run_id)
    if model is not None:
        if model not in models:
            raise ReportError(
                f"run {run_id} has no results for model {model!r}; it has: "
                f"{', '.join(models) or '(none)'}"
            )
        return model
    if len(models) == 1:
        return models[0]
    raise ReportError(
        f"run {run_id} has results for models {', '.join(models)}; choose one with --model"
    )


_RESULT_SQL = """
    SELECT r.job_id, r.run_id, r.device, d.device_class, r.model, r.variant, r.runtime,
        r.runtime_name, r.runtime_version, r.providers_used, r.scenario, r.batch_size,
        r.iterations, r.p50_ns, r.p90_ns, r.p99_ns, r.mean_ns, r.std_ns, r.throughput_ips,
        r.peak_rss_bytes, r.avg_power_mw, r.energy_per_inference_mj, r.energy_source,
        r.energy_coverage, r.peak_temp_mc, r.throttled, r.throttle_reasons_json,
        coalesce(r.simulated, false) OR coalesce(d.simulated, false) AS simulated,
        coalesce(r.emulated, false) OR coalesce(d.emulated, false) AS emulated,
        r.soak_windows_json IS NOT NULL AS soak, d.cost_json,
        coalesce(r.scenario_kind, CASE WHEN r.soak_windows_json IS NOT NULL THEN 'soak'
            ELSE 'single-stream' END) AS scenario_kind,
        a.max_abs_err, a.mean_abs_err, a.cosine_similarity, a.top1_agreement,
        a.within_tolerance, a.reasons AS accuracy_reasons, a.max_rel_err, a.snr_db,
        a.unknown_reason AS accuracy_unknown, a.tolerance_json IS NOT NULL AS has_tolerance,
        a.job_id IS NOT NULL AS accuracy_asked, a.task_top1,
        op.job_id IS NOT NULL AS profiled, op.off_unit_time_share
    FROM results r
    LEFT JOIN devices d ON d.run_id = r.run_id AND d.device = r.device
    LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*'
    LEFT JOIN op_profiles op ON op.job_id = r.job_id
    WHERE r.run_id = ? AND r.model = ?
    ORDER BY r.device, r.variant, r.runtime_name, r.scenario
"""


def result_rows(con: duckdb.DuckDBPyConnection, run_id: str, model: str) -> list[dict[str, Any]]:
    """One dict per stored result of ``model`` in ``run_id``, with device cost and accuracy."""
    cur = con.execute(_RESULT_SQL, [run_id, model])
    names = [d[0] for d in cur.description or []]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for r in rows:
        r["cost"] = json.loads(r.pop("cost_json")) if r.get("cost_json") else None
    return rows


def load_points(con: duckdb.DuckDBPyConnection, run_id: str, model: str) -> list[LoadPointRow]:
    """Every load point of ``model``'s offline and server jobs in ``run_id``, in ms."""
    rows = con.execute(
        """
        SELECT p.job_id, r.device, r.variant, r.runtime_name, r.scenario, p.kind, p.point,
            p.concurrency, p.batch_size, p.threads, p.target_qps, p.offered_qps, p.achieved_qps,
            p.samples_per_s, p.p50_ns / 1e6, p.p90_ns / 1e6, p.p99_ns / 1e6, p.percentile,
            p.percentile_ns / 1e6, p.latency_bound_ms, p.bound_held, p.cpu_util,
            coalesce(p.stop_reason, ''), p.headline, p.requests, p.planned
        FROM load_points p JOIN results r ON r.job_id = p.job_id
        WHERE r.run_id = ? AND r.model = ?
        ORDER BY r.device, r.variant, r.runtime_name, r.scenario, p.point
        """,
        [run_id, model],
    ).fetchall()
    return [LoadPointRow(*r) for r in rows]


@dataclass(frozen=True)
class SampleStats:
    """What the per-iteration samples of one job say, with confidence intervals."""

    n: int
    mean_ns: Interval
    q: float
    quantile_ns: Interval | None  # order-statistic interval around the q-quantile
    range_ns: tuple[float, float]  # p0.1 and p99.9, for histogram axes


_JOBS_OF = "job_id IN (SELECT job_id FROM results WHERE run_id = ? AND model = ?)"


def _levels(q: float) -> list[float]:
    around = {round(q + s * d, 6) for d in _BRACKET_OFFSETS for s in (-1.0, 1.0)}
    return sorted({0.0, 1.0, q, *HIST_RANGE, *(v for v in around if 0.0 < v < 1.0)})


def _disc_rank(n: int, level: float) -> int:
    """The 1-based rank DuckDB's quantile_disc returns: floor((n - 1) * level) + 1."""
    return math.floor((n - 1) * level) + 1


def sample_stats(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    model: str,
    q: float,
    confidence: float = 0.95,
) -> dict[str, SampleStats]:
    """Per job: n, the mean's interval and the order-statistic interval of the q-quantile."""
    levels = _levels(q)
    first = con.execute(
        f"SELECT job_id, count(*), avg(latency_ns), stddev_samp(latency_ns), "
        f"quantile_disc(latency_ns, {levels}) FROM latency_samples WHERE {_JOBS_OF} "
        "GROUP BY job_id",
        [run_id, model],
    ).fetchall()
    if not first:
        return {}
    brackets: dict[str, tuple[float, float, int, int]] = {}
    for job_id, n, _mean, _sd, values in first:
        lo_rank, hi_rank = quantile_ci_ranks(int(n), q, confidence)
        v_lo = max(
            (v for lev, v in zip(levels, values) if _disc_rank(n, lev) <= lo_rank),
            default=values[0],
        )
        v_hi = min(
            (v for lev, v in zip(levels, values) if _disc_rank(n, lev) >= hi_rank),
            default=values[-1],
        )
        brackets[job_id] = (v_lo, v_hi, lo_rank, hi_rank)
    ranked = _ranked_bounds(con, brackets)
    missing = {j: b for j, b in brackets.items() if j not in ranked}
    if missing:  # a quantile_disc with another rank rule: rank all samples of those jobs
        wide = {j: (-math.inf, math.inf, lo, hi) for j, (_, _, lo, hi) in missing.items()}
        ranked.update(_ranked_bounds(con, wide))
    out: dict[str, SampleStats] = {}
    lo_i, hi_i = levels.index(HIST_RANGE[0]), levels.index(HIST_RANGE[1])
    for job_id, n, mean, sd, values in first:
        bounds = ranked.get(job_id)
        point = _quantile_point(values, levels, q)
        interval = Interval(point, min(bounds[0], point), max(bounds[1], point)) if bounds else None
        out[job_id] = SampleStats(
            n=int(n),
            mean_ns=mean_ci(float(mean), None if sd is None else float(sd), int(n), confidence),
            q=q,
            quantile_ns=interval,
            range_ns=(float(values[lo_i]), float(values[hi_i])),
        )
    return out


def _quantile_point(values: Sequence[float], levels: list[float], q: float) -> float:
    if q in levels:
        return float(values[levels.index(q)])
    below = max(i for i, lev in enumerate(levels) if lev <= q)
    return float(values[below])


def _ranked_bounds(
    con: duckdb.DuckDBPyConnection, brackets: dict[str, tuple[float, float, int, int]]
) -> dict[str, tuple[float, float]]:
    """Exact x_(l) and x_(u) per job, sorting only the samples inside each job's bracket.

    A job whose bracket does not hold both ranks (it cannot, by how brackets are chosen) is
    left out, and the caller ranks it over all its samples.
    """
    if not brackets:
        return {}
    jobs = list(brackets)
    con.register(
        "_brackets",
        {
            "job_id": np.asarray(jobs, dtype=object),
            "v_lo": np.asarray([brackets[j][0] for j in jobs], dtype=np.float64),
            "v_hi": np.asarray([brackets[j][1] for j in jobs], dtype=np.float64),
            "r_lo": np.asarray([brackets[j][2] for j in jobs], dtype=np.int64),
            "r_hi": np.asarray([brackets[j][3] for j in jobs], dtype=np.int64),
        },
    )
    try:
        # One pass: count what lies below each bracket, sort only what lies inside it.
        rows = con.execute(
            """
            WITH agg AS (
                SELECT l.job_id, any_value(b.r_lo) AS r_lo, any_value(b.r_hi) AS r_hi,
                    count(*) FILTER (WHERE l.latency_ns < b.v_lo) AS nb,
                    list_sort(list(l.latency_ns) FILTER (
                        WHERE l.latency_ns >= b.v_lo AND l.latency_ns <= b.v_hi)) AS w
                FROM latency_samples l JOIN _brackets b ON b.job_id = l.job_id
                GROUP BY l.job_id
            )
            SELECT job_id,
                CASE WHEN r_lo > nb AND r_lo - nb <= len(w) THEN w[r_lo - nb] END,
                CASE WHEN r_hi > nb AND r_hi - nb <= len(w) THEN w[r_hi - nb] END
            FROM agg
            """
        ).fetchall()
    finally:
        con.unregister("_brackets")
    return {j: (float(lo), float(hi)) for j, lo, hi in rows if lo is not None and hi is not None}


@dataclass(frozen=True)
class Histograms:
    """Latency histograms of several jobs on one shared log-spaced axis."""

    edges_ms: list[float]
    counts: dict[str, list[int]] = field(default_factory=dict)


def latency_histograms(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    model: str,
    lo_ns: float,
    hi_ns: float,
    bins: int = 48,
) -> Histograms:
    """Counts per log-spaced bin between ``lo_ns`` and ``hi_ns``; outer bins take the tails."""
    lo = math.log(max(lo_ns, 1.0))
    hi = math.log(max(hi_ns, lo_ns * 1.001, 2.0))
    width = (hi - lo) / bins
    edges = [math.exp(lo + i * width) / 1e6 for i in range(bins + 1)]
    rows = con.execute(
        f"""
        SELECT job_id,
            least(?, greatest(0, floor((ln(greatest(latency_ns, 1)) - ?) / ?)))::INTEGER AS b,
            count(*) FROM latency_samples WHERE {_JOBS_OF} GROUP BY ALL
        """,
        [bins - 1, lo, width, run_id, model],
    ).fetchall()
    counts: dict[str, list[int]] = {}
    for job_id, b, c in rows:
        counts.setdefault(job_id, [0] * bins)[b] = int(c)
    return Histograms(edges, counts)


@dataclass(frozen=True)
class Series:
    """One line of a timeline: seconds since the measured phase began, and values."""

    label: str
    unit: str
    t_s: list[float]
    values: list[float]


@dataclass(frozen=True)
class SoakTimeline:
    """Telemetry and per-window throughput/latency of one soak job."""

    job_id: str
    device: str
    variant: str
    runtime_name: str
    simulated: bool
    temperature: list[Series]
    power: list[Series]
    windows: list[dict[str, float]]


_TIMELINE_POINTS = 240


def soak_timelines(con: duckdb.DuckDBPyConnection, run_id: str, model: str) -> list[SoakTimeline]:
    """Soak jobs' temperature (hottest sensor) and power (each source's total) over time.

    Downsampled in SQL to at most ~240 points per series, so a day-long soak stays cheap.
    """
    jobs = con.execute(
        "SELECT job_id, device, variant, runtime_name, coalesce(simulated, false), "
        "soak_windows_json, measure_start_ns FROM results "
        "WHERE run_id = ? AND model = ? AND soak_windows_json IS NOT NULL "
        "ORDER BY device, variant, runtime_name",
        [run_id, model],
    ).fetchall()
    if not jobs:
        return []
    rows = con.execute(
        f"""
        WITH t AS (
            SELECT s.job_id, s.sensor, s.metric, s.value,
                (s.t_ns - coalesce(r.measure_start_ns, 0)) / 1e9 AS t_s
            FROM telemetry_samples s JOIN results r ON r.job_id = s.job_id
            WHERE r.run_id = ? AND r.model = ? AND r.soak_windows_json IS NOT NULL
              AND (s.metric = 'temp_mc' OR (s.metric = 'power_mw' AND s.sensor LIKE '%:total'))
        ),
        span AS (
            SELECT job_id, min(t_s) AS t0,
                greatest(max(t_s) - min(t_s), 1e-9) / {_TIMELINE_POINTS} AS w
            FROM t GROUP BY job_id
        ),
        b AS (
            SELECT t.job_id, t.metric, t.sensor, floor((t.t_s - span.t0) / span.w) AS k,
                avg(t.t_s) AS t_s, avg(t.value) AS v
            FROM t JOIN span ON span.job_id = t.job_id GROUP BY ALL
        )
        SELECT job_id, metric,
            CASE WHEN metric = 'temp_mc' THEN 'hottest sensor' ELSE sensor END AS label,
            k, avg(t_s), max(v), avg(v)
        FROM b GROUP BY 1, 2, 3, 4 ORDER BY job_id, metric, label, k
        """,
        [run_id, model],
    ).fetchall()
    series: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
    for job_id, metric, label, _k, t_s, v_max, v_avg in rows:
        ts, vs = series.setdefault((job_id, metric, label), ([], []))
        ts.append(float(t_s))
        v = v_max if metric == "temp_mc" else v_avg  # hottest sensor; each power total
        vs.append(float(v) / 1000.0)  # mC -> C, mW -> W
    out = []
    for job_id, device, variant, runtime_name, simulated, windows_json, _start in jobs:
        temp = [
            Series(label, "°C", *series[k])
            for k in series
            if k[0] == job_id and k[1] == "temp_mc"
            for label in [k[2]]
        ]
        power = [
            Series(label, "W", *series[k])
            for k in series
            if k[0] == job_id and k[1] == "power_mw"
            for label in [k[2]]
        ]
        out.append(
            SoakTimeline(
                job_id,
                device,
                variant,
                runtime_name,
                bool(simulated),
                temp,
                power,
                json.loads(windows_json) if windows_json else [],
            )
        )
    # Jobs with temperature or power first: they are what a soak timeline is for.
    out.sort(key=lambda t: not (t.temperature or t.power))
    return out
