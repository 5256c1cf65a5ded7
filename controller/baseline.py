"""Which past nights a nightly result is compared with, and what changed since them.

A *series* is one job key of a plan: device / model name / variant / runtime entry / scenario.
Its nights are the results of that key in finished nightly runs of the same plan name. The
model file's digest, the variant's parameters and the plan digest are *not* part of the
identity: a slower model under the same name is exactly what a nightly must catch, so those
are reported as what changed. What splits the history is the device's fingerprint (kernel,
governor, clocks, agent and runtime versions) and the runtime configuration (runtime,
providers, threads, inputs, scenario): numbers before such a change do not predict numbers
after it, so the baseline starts again and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rigbench.controller.store.db import Store
from rigbench.controller.store.nightly import load_samples as load_samples
from rigbench.controller.store.nightly import night_rows_before, night_rows_of_run
from rigbench.controller.store.queries import nightly_marks


@dataclass(frozen=True)
class Change:
    """One difference between a baseline night and tonight."""

    what: str  # e.g. "fingerprint.kernel", "model digest", "variant params"
    before: str
    after: str
    splits: bool = False  # True when it starts a new baseline
    nights: int = 0  # when only some baseline nights differ: how many ...
    of_nights: int = 0  # ... of how many

    def __str__(self) -> str:
        part = f" (in {self.nights} of {self.of_nights} baseline nights)" if self.nights else ""
        return f"{self.what}: {self.before} -> {self.after}{part}"


@dataclass(frozen=True)
class Night:
    """One series measured in one nightly run, with the conditions it was measured under."""

    run_id: str
    started_at: datetime
    plan_digest: str | None
    plan: Mapping[str, Any]  # the run's plan, flattened to "models[cnn].generate.slowdown"
    job_id: str
    job_key: str
    device: str
    model: str
    variant: str
    runtime_name: str
    scenario: str
    artifact_sha256: str
    config: Mapping[str, Any]
    fingerprint: Mapping[str, str]
    artifact: Mapping[str, Any]
    p50_ns: float | None
    p90_ns: float | None
    iterations: int
    throttled: bool
    peak_rss_bytes: float | None
    energy_per_inference_mj: float | None
    max_abs_err: float | None
    within_tolerance: bool | None
    emulated: bool = False  # measured under qemu-user: its speed is never compared

    @property
    def identity(self) -> tuple[str, str]:
        """What must be equal for two nights to be comparable."""
        return _canon(self.fingerprint), _canon(self.config)


@dataclass(frozen=True)
class Baseline:
    """The nights tonight is compared with, and the nights the noise floor is learned from."""

    nights: tuple[Night, ...] = ()  # the centre: last K usable nights, or the pinned run
    noise_nights: tuple[Night, ...] = ()
    reference: Night | None = None  # what "what changed" is measured against
    new_baseline: bool = False  # the identity changed: nothing to compare with
    changes: tuple[Change, ...] = ()
    skipped_throttled: int = 0
    pinned: bool = False
    candidates: tuple[Night, ...] = ()  # every usable night of the segment, newest first

    @property
    def run_ids(self) -> list[str]:
        return [n.run_id for n in self.nights]


def _canon(d: Mapping[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def runtime_config(spec_json: str | None) -> dict[str, Any]:
    """The parts of a job spec that define the workload (not how long it was measured)."""
    spec = _loads(spec_json)
    return {
        "runtime": spec.get("runtime", {}),
        "inputs": spec.get("inputs", []),
        "inputs_npz_sha256": spec.get("inputs_npz_sha256", ""),
        "soak": spec.get("soak", {}),
    }


def flatten_plan(plan: Any, prefix: str = "") -> dict[str, Any]:
    """A plan as ``{"models[cnn].generate.slowdown": 3, ...}``.

    Lists of named entries are keyed by name, so reordering them is not a change and a diff
    names what moved.
    """
    out: dict[str, Any] = {}
    if isinstance(plan, dict):
        for k, v in plan.items():
            out.update(flatten_plan(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(plan, list) and plan and all(isinstance(x, dict) and "name" in x for x in plan):
        for x in plan:
            rest = {k: v for k, v in x.items() if k != "name"}
            out.update(flatten_plan(rest, f"{prefix}[{x['name']}]"))
    else:
        out[prefix] = plan
    return out


def _night(row: Mapping[str, Any]) -> Night:
    fp = _loads(row["fingerprint_json"]) or _loads(row["description_json"]).get("fingerprint", {})
    return Night(
        run_id=row["run_id"],
        started_at=row["started_at"],
        plan_digest=row["plan_digest"],
        plan=flatten_plan(_loads(row["plan_json"])),
        job_id=row["job_id"],
        job_key=row["job_key"],
        device=row["device"],
        model=row["model"],
        variant=row["variant"],
        runtime_name=row["runtime_name"],
        scenario=row["scenario"],
        artifact_sha256=row["artifact_sha256"],
        config=runtime_config(row["spec_json"]),
        fingerprint={str(k): str(v) for k, v in (fp or {}).items()},
        artifact={
            "transform": row["transform"],
            "params": _loads(row["params_json"]),
            "source_sha256": row["source_sha256"],
            "tool_versions": _loads(row["tool_versions_json"]),
        },
        p50_ns=row["p50_ns"],
        p90_ns=row["p90_ns"],
        iterations=int(row["iterations"] or 0),
        throttled=bool(row["throttled"]),
        peak_rss_bytes=row["peak_rss_bytes"],
        energy_per_inference_mj=row["energy_per_inference_mj"],
        max_abs_err=row["max_abs_err"],
        within_tolerance=row["within_tolerance"],
        emulated=bool(row["emulated"]),
    )


def nights_of_run(store: Store, run_id: str) -> dict[str, Night]:
    """Every stored result of one run, by job key."""
    return {n.job_key: n for n in map(_night, night_rows_of_run(store, run_id))}


def history(
    store: Store, plan_name: str, before: datetime, exclude_run: str, max_runs: int
) -> dict[str, list[Night]]:
    """Results of the last ``max_runs`` finished nightly runs of the plan, newest first."""
    rows = night_rows_before(store, plan_name, before, exclude_run, max_runs)
    out: dict[str, list[Night]] = {}
    for n in map(_night, rows):
        out.setdefault(n.job_key, []).append(n)
    return out


def recent_run_ids(hist: Mapping[str, Sequence[Night]], k: int) -> list[str]:
    """The ``k`` most recent runs that appear anywhere in a history, newest first."""
    seen: dict[str, datetime] = {}
    for nights in hist.values():
        for n in nights:
            seen[n.run_id] = n.started_at
    return sorted(seen, key=lambda r: (seen[r], r), reverse=True)[:k]


def _diff_maps(prefix: str, before: Mapping[str, Any], after: Mapping[str, Any], splits: bool):
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b != a:
            yield Change(
                f"{prefix}.{key}",
                "(none)" if b is None else _short(b),
                "(none)" if a is None else _short(a),
                splits,
            )


def _short(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def what_changed(before: Night, after: Night) -> list[Change]:
    """Everything that differs between two nights of a series, splitting changes first."""
    changes = list(_diff_maps("fingerprint", before.fingerprint, after.fingerprint, True))
    for part in ("runtime", "soak"):
        changes += _diff_maps(part, before.config.get(part, {}), after.config.get(part, {}), True)
    for part in ("inputs", "inputs_npz_sha256"):
        if before.config.get(part) != after.config.get(part):
            changes.append(
                Change(part, _short(before.config.get(part)), _short(after.config.get(part)), True)
            )
    if before.artifact_sha256 != after.artifact_sha256:
        changes.append(
            Change("model digest", before.artifact_sha256[:12], after.artifact_sha256[:12])
        )
    ba, aa = before.artifact, after.artifact
    if ba.get("source_sha256") != aa.get("source_sha256"):
        changes.append(
            Change(
                "source model digest",
                str(ba.get("source_sha256") or "(none)")[:12],
                str(aa.get("source_sha256") or "(none)")[:12],
            )
        )
    if ba.get("transform") != aa.get("transform"):
        changes.append(Change("variant transform", str(ba["transform"]), str(aa["transform"])))
    changes += _diff_maps("variant params", ba.get("params", {}), aa.get("params", {}), False)
    changes += _diff_maps("tool", ba.get("tool_versions", {}), aa.get("tool_versions", {}), False)
    if before.plan_digest != after.plan_digest:
        changes.append(
            Change(
                "plan digest",
                str(before.plan_digest or "(none)")[:12],
                str(after.plan_digest or "(none)")[:12],
            )
        )
        changes += _diff_maps("plan", before.plan, after.plan, False)
    return changes


def changes_since(nights: Sequence[Night], tonight: Night) -> list[Change]:
    """What differs between tonight and the baseline nights, each difference once.

    A difference found in only some nights says so: after a lasting change, the newest
    baseline nights may already share tonight's model while the older ones do not.
    """
    found: dict[Change, int] = {}
    for n in nights:
        for c in what_changed(n, tonight):
            found[c] = found.get(c, 0) + 1
    k = len(nights)
    return [
        c if count == k else replace(c, nights=count, of_nights=k) for c, count in found.items()
    ]


def select_baseline(
    tonight: Night, past: Sequence[Night], k: int, pinned: Night | None = None
) -> Baseline:
    """The last ``k`` usable nights of tonight's segment, or the pinned run's night.

    The segment is the run of most recent nights with tonight's identity (fingerprint and
    runtime configuration); it ends at the first night that differs, so a change starts a new
    baseline even if an older night happens to match again. Throttled nights stay in the
    segment but are not evidence.
    """
    segment: list[Night] = []
    for n in past:
        if n.identity != tonight.identity:
            break
        segment.append(n)
    usable = [n for n in segment if not n.throttled]
    skipped = len(segment) - len(usable)
    if pinned is not None:
        if pinned.identity != tonight.identity:
            return Baseline(
                reference=pinned,
                new_baseline=True,
                changes=tuple(what_changed(pinned, tonight)),
                pinned=True,
            )
        # The noise is the spread of recent nights around their own level: mixing in the
        # pinned night would count the very change under test as noise.
        noise = [n for n in usable[:k] if n.run_id != pinned.run_id] or [pinned]
        return Baseline(
            nights=(pinned,),
            noise_nights=tuple(noise),
            reference=pinned,
            changes=tuple(what_changed(pinned, tonight)),
            skipped_throttled=skipped,
            pinned=True,
        )
    if past and not segment:
        return Baseline(
            reference=past[0], new_baseline=True, changes=tuple(what_changed(past[0], tonight))
        )
    chosen = tuple(usable[:k])
    reference = chosen[0] if chosen else (segment[0] if segment else None)
    return Baseline(
        nights=chosen,
        noise_nights=chosen,
        reference=reference,
        changes=tuple(changes_since(chosen or segment[:1], tonight)),
        skipped_throttled=skipped,
        candidates=tuple(usable),
    )


@dataclass
class SeriesHistory:
    """A series' nights for the trend report, oldest first, with segment boundaries."""

    job_key: str
    nights: list[Night] = field(default_factory=list)

    def segment_starts(self) -> list[int]:
        """Indexes where the identity differs from the night before (a new baseline)."""
        return [
            i
            for i in range(1, len(self.nights))
            if self.nights[i].identity != self.nights[i - 1].identity
        ]


@dataclass(frozen=True)
class Trends:
    """What the trend report shows: each series' recent nights and what each night concluded."""

    series: list[SeriesHistory]
    marks: dict[tuple[str, str, str], str]  # (run, series, metric) -> regression, improvement ...
    nights: int  # how many nightly runs were asked for


def trends(store: Store, plan_name: str, tonight_started_at: datetime, nights: int) -> Trends:
    """The last ``nights`` nightly runs of a plan, tonight's included, per series."""
    hist = history(store, plan_name, tonight_started_at, "", nights)
    series = [SeriesHistory(key, list(reversed(ns))) for key, ns in sorted(hist.items())]
    marks = nightly_marks(store, sorted({n.run_id for s in series for n in s.nights}))
    return Trends(series, marks, nights)
