"""Everything a report shows for one run, read in one read-only connection.

The HTML, Markdown and JSON reports render the same bundle: per model, the ranking, the
latency histograms of every choice (on one shared axis) and the soak timelines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from rigbench.agent.profiling import OpProfile
from rigbench.controller.ranking.rank import Ranking, RankRequest, rank_model
from rigbench.controller.store import Store
from rigbench.controller.store.ranking import (
    HIST_RANGE,
    Histograms,
    JobNote,
    RunSummary,
    SoakTimeline,
    job_notes,
    latency_histograms,
    models_in_run,
    pick_run,
    soak_timelines,
)
from rigbench.errors import ReportError


@dataclass
class ModelSection:
    ranking: Ranking
    histograms: Histograms
    timelines: list[SoakTimeline]
    # Operator profiles of the top profiled choices: (choice label, job id, profile).
    op_profiles: list[tuple[str, str, OpProfile]] = field(default_factory=list)


@dataclass
class ReportBundle:
    run: RunSummary
    sections: list[ModelSection]
    notes: list[str] = field(default_factory=list)
    failed: list[JobNote] = field(default_factory=list)  # every failed job, with its reason
    skipped: list[JobNote] = field(default_factory=list)  # not measured on purpose, and why
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def build_bundle(store: Store, req: RankRequest) -> ReportBundle:
    """Rank every model of the run (or ``req.model``) and gather its charts' data."""
    with store.connect(read_only=True) as con:
        run, notes = pick_run(con, req.run_id, req.model)
        models = [req.model] if req.model else models_in_run(con, run.run_id)
        if req.model and req.model not in models_in_run(con, run.run_id):
            raise ReportError(f"run {run.run_id} has no results for model {req.model!r}")
        sections = []
        for model in models:
            ranking = rank_model(con, run, model, req)
            # The shared axis spans p0.1..p99.9 over all choices of the model.
            spans = [c.range_ms for c in ranking.ranked + ranking.excluded if c.range_ms]
            hist = (
                latency_histograms(
                    con,
                    run.run_id,
                    model,
                    min(s[0] for s in spans) * 1e6,
                    max(s[1] for s in spans) * 1e6,
                )
                if spans
                else Histograms([], {})
            )
            sections.append(ModelSection(ranking, hist, soak_timelines(con, run.run_id, model)))
        failed = job_notes(con, run.run_id, "failed")
        skipped = job_notes(con, run.run_id, "skipped")
    for s in sections:
        s.op_profiles = top_profiles(store, s.ranking)
    if req.model:
        failed = [f for f in failed if f.model == req.model]
        skipped = [f for f in skipped if f.model == req.model]
    return ReportBundle(run, sections, notes, failed, skipped)


def top_profiles(store: Store, ranking: Ranking, n: int = 3) -> list[tuple[str, str, OpProfile]]:
    """The operator profiles of the first ``n`` profiled choices, in rank order."""
    from rigbench.controller.store.ops import profile_of

    out: list[tuple[str, str, OpProfile]] = []
    for c in ranking.ranked + ranking.excluded:
        if len(out) == n:
            break
        if c.profiled and (sp := profile_of(store, c.job_id)) is not None and sp.profile.rows:
            out.append((c.label, c.job_id, sp.profile))
    return out


__all__ = ["HIST_RANGE", "ModelSection", "ReportBundle", "SoakTimeline", "build_bundle"]
