"""Rank a model's deployment choices (device x variant x runtime) by cost, energy or latency.

A choice is one stored result. It qualifies when it meets every constraint; qualifying
choices are ordered by the requested figure, choices whose confidence intervals overlap are
ties, and the Pareto front of latency against cost is marked. Choices with an unknown figure
come after the known ones, unranked: an unknown cost is never treated as free.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import duckdb

from rigbench.controller.cost import CostEstimate, Measurement, estimate_cost, parse_cost
from rigbench.controller.inventory import Cost
from rigbench.controller.ranking.capacity import (
    Capacity,
    LoadPointRow,
    by_deployment,
    deployment_capacity,
)
from rigbench.controller.ranking.constraints import Constraints, Exclusion, check
from rigbench.controller.ranking.stats import competition_ranks, pareto_front, tie_groups
from rigbench.controller.store import Store
from rigbench.controller.store.ranking import (
    RunSummary,
    SampleStats,
    load_points,
    pick_model,
    pick_run,
    result_rows,
    sample_stats,
)
from rigbench.errors import ReportError
from rigbench.stats import Interval


class RankBy(str, Enum):
    """The figure choices are ordered by."""

    cost = "cost"
    energy = "energy"
    latency = "latency"


@dataclass(frozen=True)
class RankRequest:
    """What to rank and how; ``costs`` overrides the costs recorded with the run."""

    run_id: str | None = None
    model: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    by: RankBy = RankBy.cost
    scenario: str | None = None  # only this scenario's results (all when None)
    confidence: float = 0.95
    costs: dict[str, Cost | None] | None = None
    costs_source: str | None = None  # where ``costs`` came from, for the notes


@dataclass
class Choice:
    """One deployment choice with its figures, intervals, cost and verdict."""

    job_id: str
    device: str
    device_class: str | None
    variant: str
    runtime: str
    runtime_name: str
    providers: str | None
    scenario: str
    batch_size: int | None
    iterations: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    latency_ms: Interval | None  # the requested percentile, with its interval
    mean_ms: Interval | None
    std_ms: float | None
    throughput_ips: float | None
    peak_rss_mb: float | None
    throttled: bool | None
    throttle_reasons: list[str]
    peak_temp_c: float | None
    simulated: bool
    max_abs_err: float | None
    cosine_similarity: float | None
    within_tolerance: bool | None
    accuracy_reasons: str | None
    cost: CostEstimate
    max_rel_err: float | None = None
    snr_db: float | None = None
    accuracy_unknown: str | None = None  # why no accuracy figure exists, when it was asked for
    has_tolerance: bool = False  # the plan set an accuracy tolerance for this model
    task_top1: float | None = None
    # Placement from the job's operator profile (docs/runtimes.md): share of operator time
    # not on the requested provider/device; None when not profiled or the runtime cannot say.
    profiled: bool = False
    off_unit_time_share: float | None = None
    scenario_kind: str = "single-stream"  # single-stream | soak | offline | server
    cost_input: Cost | None = None  # the inventory cost the estimate used
    range_ms: tuple[float, float] | None = None  # p0.1 and p99.9 of the samples
    cost_ci: Interval | None = None
    energy_ci: Interval | None = None
    # What the deployment serves under load, where an offline or server scenario measured it.
    capacity: Capacity | None = None
    exclusions: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rank: int | None = None
    tied: bool = False
    pareto: bool = False
    emulated: bool = False  # the agent ran under qemu-user: figures are not a device's

    @property
    def deployment(self) -> tuple[str, str, str]:
        return (self.device, self.variant, self.runtime_name)

    @property
    def label(self) -> str:
        """``device / variant / runtime``, plus the scenario unless it is the default one."""
        base = f"{self.device} / {self.variant} / {self.runtime_name}"
        return base if self.scenario == "single-stream" else f"{base} [{self.scenario}]"

    def figures(self) -> dict[str, Any]:
        """The plain figures the constraints look at."""
        return {
            "scenario": self.scenario,
            "batch_size": self.batch_size,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            # --min-throughput reads the measured capacity where there is one.
            "throughput_ips": self.capacity.ips if self.capacity else self.throughput_ips,
            "throughput_basis": self.capacity.kind if self.capacity else self.scenario,
            "peak_rss_mb": self.peak_rss_mb,
            "throttled": self.throttled,
            "throttle_reasons": self.throttle_reasons,
            "max_abs_err": self.max_abs_err,
            "within_tolerance": self.within_tolerance,
            "accuracy_reasons": self.accuracy_reasons,
            "accuracy_unknown": self.accuracy_unknown,
            "has_tolerance": self.has_tolerance,
            "emulated": self.emulated,
        }


@dataclass
class Ranking:
    """The answer for one model of one run."""

    run: RunSummary
    model: str
    by: RankBy
    constraints: Constraints
    confidence: float
    ranked: list[Choice]  # meet every constraint, in rank order (unknown figures last)
    excluded: list[Choice]
    notes: list[str] = field(default_factory=list)
    load_points: list[LoadPointRow] = field(default_factory=list)  # offline and server jobs'

    @property
    def percentile(self) -> int:
        return self.constraints.percentile

    @property
    def pareto(self) -> list[Choice]:
        return sorted(
            (c for c in self.ranked if c.pareto),
            key=lambda c: c.latency_ms.point if c.latency_ms else 0.0,
        )

    def exclusion_summary(self) -> list[tuple[str, int, list[str]]]:
        """Per constraint: how many choices it excluded, and which (with figures)."""
        counts: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        for c in self.excluded:
            for e in c.exclusions:
                counts[e.constraint] += 1
                examples.setdefault(e.constraint, []).append(f"{c.label}: {e.detail}")
        return [(k, n, examples[k]) for k, n in counts.most_common()]


def rank(store: Store, req: RankRequest) -> Ranking:
    """Rank one model of one run (see `RankRequest`) from the store."""
    with store.connect(read_only=True) as con:
        run, notes = pick_run(con, req.run_id, req.model)
        model = pick_model(con, run.run_id, req.model)
        return rank_model(con, run, model, req, notes)


def rank_model(
    con: duckdb.DuckDBPyConnection,
    run: RunSummary,
    model: str,
    req: RankRequest,
    notes: list[str] | None = None,
) -> Ranking:
    """Rank ``model`` of ``run`` on an open connection (the report ranks every model)."""
    rows = result_rows(con, run.run_id, model)
    notes = list(notes or [])
    if req.scenario is not None:
        scenarios = sorted({r["scenario"] for r in rows})
        if req.scenario not in scenarios:
            raise ReportError(
                f"run {run.run_id} has no {model!r} results for scenario {req.scenario!r}; "
                f"it has: {', '.join(scenarios)}"
            )
        rows = [r for r in rows if r["scenario"] == req.scenario]
    q = req.constraints.percentile / 100.0
    stats = sample_stats(con, run.run_id, model, q, req.confidence)
    points = load_points(con, run.run_id, model)  # every scenario's: capacity is the deployment's
    grouped = by_deployment(points)
    choices = [_choice(r, stats.get(r["job_id"]), req, grouped) for r in rows]
    ranking = build_ranking(run, model, choices, req, notes)
    ranking.load_points = points
    return ranking


def _choice(
    row: dict[str, Any],
    st: SampleStats | None,
    req: RankRequest,
    load: dict[tuple[str, str, str], list[LoadPointRow]] | None = None,
) -> Choice:
    cost_data = row["cost"]
    if req.costs is not None and row["device"] in req.costs:
        cost_data = req.costs[row["device"]]
    measurement = Measurement(
        throughput_ips=row["throughput_ips"],
        avg_power_mw=row["avg_power_mw"],
        energy_per_inference_mj=row["energy_per_inference_mj"],
        energy_source=row["energy_source"],
        energy_coverage=row["energy_coverage"],
        simulated=bool(row["simulated"]),
    )
    cost_input = parse_cost(cost_data)
    cost = estimate_cost(cost_input, measurement)
    pct = req.constraints.percentile
    point = row[f"p{pct}_ns"]
    latency = None
    if point is not None:
        latency = Interval(point, point, point)
        if st is not None and st.quantile_ns is not None:
            ci = st.quantile_ns
            latency = Interval(point, min(ci.lo, point), max(ci.hi, point))
        latency = latency.scaled(1e-6)
    mean = st.mean_ns.scaled(1e-6) if st is not None else None
    span = (st.range_ns[0] / 1e6, st.range_ns[1] / 1e6) if st is not None else None
    choice = Choice(
        job_id=row["job_id"],
        device=row["device"],
        device_class=row["device_class"],
        variant=row["variant"],
        runtime=row["runtime"],
        runtime_name=row["runtime_name"],
        providers=row["providers_used"] or None,
        scenario=row["scenario"],
        batch_size=row["batch_size"],
        iterations=int(row["iterations"]),
        p50_ms=_ms(row["p50_ns"]),
        p90_ms=_ms(row["p90_ns"]),
        p99_ms=_ms(row["p99_ns"]),
        latency_ms=latency,
        mean_ms=mean,
        std_ms=_ms(row["std_ns"]),
        throughput_ips=row["throughput_ips"],
        peak_rss_mb=row["peak_rss_bytes"] / 1048576.0 if row["peak_rss_bytes"] else None,
        throttled=row["throttled"],
        throttle_reasons=json.loads(row["throttle_reasons_json"] or "[]"),
        peak_temp_c=row["peak_temp_mc"] / 1000.0 if row["peak_temp_mc"] is not None else None,
        simulated=bool(row["simulated"]),
        max_abs_err=row["max_abs_err"],
        cosine_similarity=row["cosine_similarity"],
        within_tolerance=row["within_tolerance"],
        accuracy_reasons=row["accuracy_reasons"] or None,
        max_rel_err=row["max_rel_err"],
        snr_db=row["snr_db"],
        accuracy_unknown=row["accuracy_unknown"] or None,
        has_tolerance=bool(row["has_tolerance"]),
        task_top1=row["task_top1"],
        profiled=bool(row.get("profiled")),
        off_unit_time_share=row.get("off_unit_time_share"),
        scenario_kind=row["scenario_kind"],
        cost=cost,
        cost_input=cost_input,
        range_ms=span,
        emulated=bool(row["emulated"]),
    )
    points = (load or {}).get(choice.deployment, [])
    if points:
        c = req.constraints
        choice.capacity = deployment_capacity(points, c.latency_ms, c.percentile)
    # Cost and energy per inference scale with the time one inference takes: they inherit
    # the relative interval of the mean latency (latency noise only, not the power's).
    if mean is not None:
        if cost.usd_per_million is not None:
            choice.cost_ci = mean.relative_to(cost.usd_per_million)
        if cost.power.energy_per_inference_mj is not None:
            choice.energy_ci = mean.relative_to(cost.power.energy_per_inference_mj)
    choice.exclusions = check(choice.figures(), req.constraints)
    head = next((p for p in points if p.job_id == choice.job_id and p.headline), None)
    if head is not None and head.kind == "server" and head.bound_held is False:
        # No rate met the scenario's own bound: its figures are of the lowest rate tried.
        choice.exclusions.append(
            Exclusion(
                "server bound",
                f"no rate met p{head.percentile:g} <= {head.latency_bound_ms or 0:g} ms "
                f"(lowest tried {head.target_qps or 0:.4g} req/s: p{head.percentile:g} "
                f"{head.percentile_ms or 0:.3g} ms)",
            )
        )
    if req.constraints.latency_ms is not None and latency is not None:
        limit = req.constraints.latency_ms
        if latency.lo <= limit < latency.hi:
            choice.notes.append(
                f"p{pct} {_pct_interval(latency)} straddles the {limit:g} ms target: "
                "more iterations would tell"
            )
    return choice


def _ms(ns: float | None) -> float | None:
    return ns / 1e6 if ns is not None else None


def _pct_interval(i: Interval) -> str:
    return f"{i.point:.3g} ms (CI {i.lo:.3g}-{i.hi:.3g})"


def key_interval(c: Choice, by: RankBy) -> Interval | None:
    """The interval of the figure ``by`` ranks on; None when that figure is unknown."""
    if by is RankBy.latency:
        return c.latency_ms
    if by is RankBy.energy:
        e = c.cost.power.energy_per_inference_mj
        return c.energy_ci or (Interval(e, e, e) if e is not None else None)
    p = c.cost.usd_per_million
    return c.cost_ci or (Interval(p, p, p) if p is not None else None)


def build_ranking(
    run: RunSummary, model: str, choices: list[Choice], req: RankRequest, notes: list[str]
) -> Ranking:
    """Split qualifying from excluded choices, order, mark ties and the Pareto front."""
    ok = [c for c in choices if not c.exclusions]
    excluded = [c for c in choices if c.exclusions]
    known = [c for c in ok if key_interval(c, req.by) is not None]
    unknown = [c for c in ok if key_interval(c, req.by) is None]
    known.sort(key=lambda c: (_point(key_interval(c, req.by)), _latency_point(c)))
    unknown.sort(key=_latency_point)
    leaders = tie_groups([key_interval(c, req.by) for c in known])
    sizes = Counter(leaders)
    for c, leader, rank_ in zip(known, leaders, competition_ranks(leaders)):
        c.rank = rank_
        c.tied = sizes[leader] > 1
    priced = [c for c in ok if c.cost.usd_per_million is not None and c.latency_ms is not None]
    front = pareto_front(
        [(c.latency_ms.point, c.cost.usd_per_million) for c in priced]  # type: ignore[union-attr,misc]
    )
    for i in front:
        priced[i].pareto = True
    excluded.sort(key=lambda c: (len(c.exclusions), _latency_point(c)))
    ranking = Ranking(
        run, model, req.by, req.constraints, req.confidence, known + unknown, excluded
    )
    ranking.notes = notes + _notes(ranking, req, unknown)
    return ranking


def _point(i: Interval | None) -> float:
    return i.point if i is not None else float("inf")


def _latency_point(c: Choice) -> float:
    return _point(c.latency_ms)


def _notes(r: Ranking, req: RankRequest, unknown: list[Choice]) -> list[str]:
    notes = []
    if req.costs_source:
        notes.append(f"costs from {req.costs_source}, not the costs recorded with the run")
    if unknown and req.by is RankBy.latency:
        notes.append(f"{len(unknown)} choice(s) have no p{r.percentile} latency: unranked")
    if unknown and req.by is RankBy.energy:
        notes.append(
            f"{len(unknown)} choice(s) have unknown energy (no power sensor and no nameplate_w "
            "in the inventory): listed unranked, after the ranked ones"
        )
    unpriced = [c for c in r.ranked if not c.cost.known]
    if unpriced:
        reasons = Counter(c.cost.unknown_reason for c in unpriced)
        why = "; ".join(f"{n} x {reason}" for reason, n in reasons.items())
        listed = " (listed unranked, after the ranked ones)" if req.by is RankBy.cost else ""
        notes.append(
            f"{len(unpriced)} choice(s) have unknown cost{listed}: {why}. Add `cost:` to the "
            "device in inventory.yaml (see docs/ranking.md) or pass --inventory FILE."
        )
    for c in r.ranked:
        if c.accuracy_unknown:
            notes.append(
                f"accuracy unknown for {c.label} (no accuracy constraint applies to it, so it "
                f"stays ranked): {c.accuracy_unknown}"
            )
    if r.ranked and not any(c.pareto for c in r.ranked):
        notes.append("no Pareto front of latency against cost: no qualifying choice has a cost")
    if any(c.simulated for c in r.ranked + r.excluded):
        notes.append(
            "simulated devices replay recorded telemetry: their power, energy, temperature and "
            "throttling figures (and costs derived from them) are simulated, not measured"
        )
    if any(c.emulated for c in r.ranked):
        notes.append(
            "emulated devices are ranked as asked (--allow-emulated): they run under user-mode "
            "emulation (qemu-user), so their latency, throughput and any cost derived from them "
            "are the emulator's, not a real device's"
        )
    if any(c.cost.estimated for c in r.ranked):
        notes.append(
            "estimated: power from the inventory's nameplate_w (no power sensor); energy and "
            "cost derived from it are estimates"
        )
    return notes
