"""Compare one nightly run with its baselines: the verdict a CI job gates on.

Every job of tonight's run becomes comparisons, one per metric (median latency from the
per-iteration samples, max abs error, energy per inference, peak memory); every series the
recent nights had but tonight lacks is accounted for too. Device-level facts (canary failed,
unreachable, missing) make the farm verdict. Exit codes: 0 nothing regressed, 1 a regression
(or a job that now fails for the model's own reasons), 2 the farm failed, which wins over 1
because a partial night cannot clear anyone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from rigbench import failures
from rigbench.context import RunContext
from rigbench.controller.baseline import (
    Baseline,
    Change,
    Night,
    history,
    load_samples,
    nights_of_run,
    recent_run_ids,
    select_baseline,
)
from rigbench.controller.compare.runner import PairOutcome
from rigbench.controller.nightly.pairs import latency_from_pair, pair_reference, regressed_runs
from rigbench.controller.nightly.verdicts import (
    Outcome,
    Policy,
    Verdict,
    compare_accuracy,
    compare_latency,
    compare_scalar,
)
from rigbench.controller.store import queries
from rigbench.controller.store.checks import Accept, CheckRow, accepts_for, write_checks
from rigbench.controller.store.db import Store
from rigbench.failures import Blame, FailureKind

METRICS = ("latency_p50", "max_abs_err", "energy_per_inference", "peak_rss")
PERF_METRICS = ("latency_p50", "energy_per_inference")  # throttling changes these
# What emulation (qemu-user) decides rather than the model: never compared on such a device.
EMULATED_METRICS = ("latency_p50", "energy_per_inference", "peak_rss")
BAD_DEVICE_STATES = frozenset({"unhealthy", "unreachable", "quarantined", "missing", "noisy"})
EXIT_OK, EXIT_REGRESSION, EXIT_FARM = failures.EXIT_OK, failures.EXIT_MODEL, failures.EXIT_FARM
# How many past nights of a plan a nightly reads: its baselines and its noise floor come
# from them (`rigbench prune` keeps them).
HISTORY_RUNS = 60


@dataclass(frozen=True)
class DeviceHealth:
    """What the canary said about a device before its jobs ran."""

    device: str
    healthy: bool
    message: str = ""
    canary_run_id: str | None = None
    state: str = "unhealthy"  # when not healthy: unhealthy | unreachable | quarantined
    noisy: str | None = None  # healthy, but too noisy tonight to judge latency: why


@dataclass
class Comparison:
    """One device x series x metric: the JUnit test case and the Markdown line."""

    device: str
    series: str  # job key
    model: str
    variant: str
    runtime_name: str
    scenario: str
    metric: str  # one of METRICS, or "job" when the job itself failed or is missing
    outcome: Outcome
    verdict: Verdict | None = None
    baseline_runs: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def farm_failure(self) -> bool:
        """The farm failed this comparison: it errored, or was too noisy to decide (exit 2)."""
        return self.outcome in (Outcome.ERROR, Outcome.NOT_ENOUGH_EVIDENCE)

    @property
    def is_regression(self) -> bool:
        return self.outcome in (Outcome.REGRESSION, Outcome.FAILED)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("verdict", "changes")}
        d["outcome"] = self.outcome.value
        d["changes"] = [asdict(c) for c in self.changes]
        if self.verdict is not None:
            v = asdict(self.verdict)
            v.pop("outcome")
            v.pop("reason")
            d.update(v)
        return d


@dataclass
class DeviceState:
    """A device's night: healthy, or why its numbers are missing or not trusted."""

    device: str
    state: str  # healthy | noisy | unhealthy | unreachable | quarantined | missing | retired
    message: str = ""
    fingerprint_changes: list[Change] = field(default_factory=list)


@dataclass
class NightlyReport:
    run_id: str
    plan_name: str
    started_at: datetime | None
    policy: Policy
    baseline_runs: int
    pinned_run: str | None
    devices: list[DeviceState]
    comparisons: list[Comparison]
    canary_run_id: str | None = None
    pairs_run_id: str | None = None  # tonight's paired rounds (kind "pairs")
    context: RunContext = field(default_factory=RunContext)  # the code tonight measured

    @property
    def farm_failed(self) -> bool:
        return any(d.state in BAD_DEVICE_STATES for d in self.devices) or any(
            c.farm_failure for c in self.comparisons
        )

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.is_regression]

    @property
    def exit_code(self) -> int:
        if self.farm_failed:
            return EXIT_FARM
        return EXIT_REGRESSION if self.regressions else EXIT_OK

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.comparisons if c.outcome is outcome)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "plan": self.plan_name,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "exit_code": self.exit_code,
            "farm_failed": self.farm_failed,
            "canary_run_id": self.canary_run_id,
            "pairs_run_id": self.pairs_run_id,
            "context": self.context.to_dict(),
            "pinned_run": self.pinned_run,
            "baseline_runs": self.baseline_runs,
            "policy": asdict(self.policy),
            "devices": [
                {**asdict(d), "fingerprint_changes": [asdict(c) for c in d.fingerprint_changes]}
                for d in self.devices
            ],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def _split_key(job_key: str) -> tuple[str, str, str, str, str]:
    parts = (job_key.split("/") + ["*"] * 5)[:5]
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _row(job_key: str, metric: str, outcome: Outcome, **kw: Any) -> Comparison:
    device, model, variant, runtime_name, scenario = _split_key(job_key)
    return Comparison(
        device, job_key, model, variant, runtime_name, scenario, metric, outcome, **kw
    )


def compare_series(
    tonight: Night,
    baseline: Baseline,
    samples: Mapping[str, np.ndarray],
    policy: Policy,
    flagged: frozenset[tuple[str, str, str]] = frozenset(),
    pair: PairOutcome | None = None,
    noisy: str | None = None,
    unpaired: str | None = None,
    accepted: Accept | None = None,
) -> list[Comparison]:
    """The four metric comparisons of one series that has a baseline segment.

    ``flagged`` holds (run, series, metric) already reported as a change: those nights still
    count toward the baseline's centre (a lasting change becomes the new normal once it is
    half the window) but not toward the noise floor, which would otherwise swallow the change
    the night after it was first reported.
    """
    key = tonight.job_key
    runs = baseline.run_ids
    changes = list(baseline.changes)
    flags = []
    if baseline.pinned:
        flags.append("pinned baseline")
    if accepted is not None and not baseline.pinned:
        when = f" on {accepted.accepted_at:%Y-%m-%d}" if accepted.accepted_at else ""
        flags.append(f"baseline accepted{when} at run {accepted.run_id}: {accepted.why}")
    if baseline.skipped_throttled:
        flags.append(f"{baseline.skipped_throttled} throttled baseline night(s) not used")
    if tonight.throttled:
        flags.append("throttled tonight: latency and energy not used as evidence")
    if tonight.emulated:
        flags.append("emulated device (qemu-user): only accuracy is compared")
    if baseline.new_baseline:
        why = "; ".join(str(c) for c in changes if c.splits)
        return [
            _row(
                key,
                m,
                Outcome.NEW_BASELINE,
                changes=changes,
                flags=flags,
                message=f"new baseline: {why}",
            )
            for m in METRICS
        ]
    if not baseline.nights:
        why = (
            "first night of this series"
            if baseline.reference is None
            else "every baseline night was throttled"
        )
        return [
            _row(key, m, Outcome.NOT_ENOUGH_DATA, changes=changes, flags=flags, message=why)
            for m in METRICS
        ]

    def noise(metric: str) -> list[Night]:
        return [n for n in baseline.noise_nights if (n.run_id, key, metric) not in flagged]

    verdicts: dict[str, Verdict] = {}
    if tonight.throttled:
        for m in PERF_METRICS:
            verdicts[m] = Verdict(Outcome.NOT_ENOUGH_DATA, reason="throttled tonight")
    else:
        t = samples.get(tonight.job_id, np.empty(0, dtype=np.int64))
        history = compare_latency(
            t,
            [samples.get(n.job_id, np.empty(0, dtype=np.int64)) for n in baseline.nights],
            [n.p50_ns for n in noise("latency_p50") if n.p50_ns],
            policy,
        )
        if noisy is not None:
            verdicts["latency_p50"] = replace(
                history,
                outcome=Outcome.NOT_ENOUGH_EVIDENCE,
                reason=noisy,
                basis="history",
                history_outcome=history.outcome.value,
            )
        elif pair is not None:
            a, b = pair.plan.a.stored, pair.plan.b.stored
            same = a is not None and b is not None and a.variants[0].sha256 == b.variants[0].sha256
            verdicts["latency_p50"] = latency_from_pair(pair, history, same)
        else:
            verdicts["latency_p50"] = replace(history, basis="history")
            if unpaired:
                flags.append(f"latency judged on the history only: {unpaired}")
        verdicts["energy_per_inference"] = compare_scalar(
            tonight.energy_per_inference_mj,
            [n.energy_per_inference_mj for n in baseline.nights if n.energy_per_inference_mj],
            [
                n.energy_per_inference_mj
                for n in noise("energy_per_inference")
                if n.energy_per_inference_mj
            ],
            policy,
            policy.energy_noise_prior,
        )
    verdicts["max_abs_err"] = compare_accuracy(
        tonight.max_abs_err,
        tonight.within_tolerance,
        [n.max_abs_err for n in baseline.nights if n.max_abs_err is not None],
        [n.within_tolerance for n in baseline.nights],
        policy,
    )
    verdicts["peak_rss"] = compare_scalar(
        float(tonight.peak_rss_bytes) if tonight.peak_rss_bytes else None,
        [float(n.peak_rss_bytes) for n in baseline.nights if n.peak_rss_bytes],
        [float(n.peak_rss_bytes) for n in noise("peak_rss") if n.peak_rss_bytes],
        policy,
        policy.memory_noise_prior,
    )
    if tonight.emulated:
        for m in EMULATED_METRICS:
            verdicts[m] = Verdict(
                Outcome.NOT_ENOUGH_DATA,
                reason="emulated device: its speed, energy and memory are never compared",
            )
    paired = pair is not None and pair.plan.baseline_run and noisy is None and not tonight.emulated
    return [
        _row(
            key,
            m,
            verdicts[m].outcome,
            verdict=verdicts[m],
            baseline_runs=[pair.plan.baseline_run] if paired and m == "latency_p50" else runs,  # type: ignore[union-attr,list-item]
            changes=changes,
            flags=flags,
            message=verdicts[m].reason,
        )
        for m in METRICS
    ]


def _device_states(
    store: Store,
    run_id: str,
    jobs: Sequence[Mapping[str, Any]],
    expected: set[str],
    health: Mapping[str, DeviceHealth],
    selected: set[str] | None,
) -> dict[str, DeviceState]:
    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for j in jobs:
        if j["device"] != "*":
            by_device.setdefault(j["device"], []).append(j)
    states: dict[str, DeviceState] = {}
    for device in sorted(expected | set(by_device) | set(health)):
        h = health.get(device)
        mine = by_device.get(device, [])
        kinds = {j["error_kind"] for j in mine if j["status"] == "failed"}
        if h is not None and not h.healthy:
            states[device] = DeviceState(device, h.state, f"canary: {h.message}")
        elif "unreachable" in kinds:
            why = next(j["error_message"] for j in mine if j["error_kind"] == "unreachable")
            states[device] = DeviceState(device, "unreachable", why or "")
        elif "quarantined" in kinds:
            states[device] = DeviceState(
                device, "quarantined", "quarantined after repeated infrastructure failures"
            )
        elif not mine:
            if selected is not None and device not in selected:
                states[device] = DeviceState(
                    device,
                    "retired",
                    "in recent baselines but no longer selected by the plan and inventory",
                )
            else:
                states[device] = DeviceState(
                    device, "missing", "in the baseline but absent from tonight's run"
                )
        elif h is not None and h.noisy:
            states[device] = DeviceState(device, "noisy", h.noisy)
        else:
            states[device] = DeviceState(device, "healthy", h.message if h else "")
    return states


def _flagged(store: Store, run_ids: set[str]) -> frozenset[tuple[str, str, str]]:
    if not run_ids:
        return frozenset()
    rows = store.query(
        "SELECT run_id, series, metric FROM nightly_checks "
        "WHERE outcome IN ('regression', 'improvement') "
        "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(run_ids)],
    )
    return frozenset((r["run_id"], r["series"], r["metric"]) for r in rows)


@dataclass
class Night0:
    """Everything about tonight that the comparisons need, decided before any pair is measured."""

    run_id: str
    plan_name: str
    started_at: datetime
    policy: Policy
    baseline_runs: int
    pin: str | None
    health: Mapping[str, DeviceHealth]
    tonight: dict[str, Night]
    jobs: list[dict[str, Any]]
    expected_series: set[str]
    states: dict[str, DeviceState]
    baselines: dict[str, Baseline]
    samples: Mapping[str, np.ndarray]
    flagged: frozenset[tuple[str, str, str]]
    regressed: Mapping[str, frozenset[str]]
    context: RunContext = field(default_factory=RunContext)
    accepted: Mapping[str, Accept] = field(default_factory=dict)  # the accept in effect

    def pair_references(self) -> dict[str, Night]:
        """Per series that can be paired tonight: the baseline night it is paired with.

        Not paired: new baselines, first nights, throttled tonight, devices not healthy.
        """
        out: dict[str, Night] = {}
        for key, night in self.tonight.items():
            state = self.states.get(night.device)
            if (
                night.throttled
                or night.emulated
                or (state is not None and state.state != "healthy")
            ):
                continue
            accepted = self.accepted.get(key)
            ref = pair_reference(
                self.baselines[key],
                self.regressed.get(key, frozenset()),
                frozenset({accepted.run_id}) if accepted else frozenset(),
            )
            if ref is not None:
                out[key] = ref
        return out


def prepare_night(
    store: Store,
    run_id: str,
    policy: Policy | None = None,
    baseline_runs: int = 7,
    pin: str | None = None,
    health: Mapping[str, DeviceHealth] | None = None,
    selected_devices: set[str] | None = None,
    history_runs: int = HISTORY_RUNS,
) -> Night0:
    """Read tonight, its history and baselines from the store; nothing is written."""
    policy = policy or Policy()
    health = health or {}
    info = queries.run_info(store, run_id)
    plan_name = info["plan_name"] or ""
    started = info["started_at"]
    tonight = nights_of_run(store, run_id)
    jobs = store.query(
        "SELECT job_key, device, status, error_kind, error_message FROM jobs "
        "WHERE run_id = ? ORDER BY job_key",
        [run_id],
    )
    past = history(store, plan_name, started, run_id, max(history_runs, baseline_runs))
    accepted = _accepted(store, past)
    for key, acc in accepted.items():  # the baseline starts at the accepted night
        runs = [n.run_id for n in past[key]]
        past[key] = past[key][: runs.index(acc.run_id) + 1]
    pinned: dict[str, Night] = {}
    if pin:
        queries.run_info(store, pin)  # a clear error for an unknown run id
        pinned = nights_of_run(store, pin)
    recent = set(recent_run_ids(past, baseline_runs))
    expected_series = {
        key for key, nights in past.items() if any(n.run_id in recent for n in nights)
    } | set(pinned)
    expected_devices = {_split_key(k)[0] for k in expected_series}
    states = _device_states(store, run_id, jobs, expected_devices, health, selected_devices)

    baselines: dict[str, Baseline] = {}
    for key, night in tonight.items():
        baselines[key] = select_baseline(
            night, past.get(key, []), baseline_runs, pinned.get(key) if pin else None
        )
    wanted = [night.job_id for night in tonight.values()]
    for b in baselines.values():
        wanted += [n.job_id for n in b.nights]
    samples = load_samples(store, wanted)
    flagged = _flagged(store, {n.run_id for b in baselines.values() for n in b.noise_nights})
    regressed = regressed_runs(
        store, sorted({n.run_id for b in baselines.values() for n in b.candidates})
    )
    context = RunContext(
        info.get("git_sha"), info.get("git_branch"), info.get("pull_request"), info.get("ci")
    )
    return Night0(
        run_id, plan_name, started, policy, baseline_runs, pin, health, tonight, jobs,
        expected_series, states, baselines, samples, flagged, regressed, context, accepted,
    )  # fmt: skip


def _accepted(store: Store, past: Mapping[str, list[Night]]) -> dict[str, Accept]:
    """Per series: the newest of its nights in ``past`` that was accepted as its baseline."""
    out: dict[str, Accept] = {}
    for key, accepts in accepts_for(store, sorted(past)).items():
        by_run = {a.run_id: a for a in accepts}
        newest = next((n for n in past[key] if n.run_id in by_run), None)
        if newest is not None:
            out[key] = by_run[newest.run_id]
    return out


def decide_night(
    n0: Night0,
    pairs: Mapping[str, PairOutcome] | None = None,
    pairs_run_id: str | None = None,
    unpaired: Mapping[str, str] | None = None,
) -> NightlyReport:
    """Every comparison of the night, latency from its pair where one was measured.

    ``unpaired`` says, per series, why it could not be paired (judged on its history).
    """
    pairs = pairs or {}
    unpaired = unpaired or {}
    states = n0.states
    noisy = {d: s.message for d, s in states.items() if s.state == "noisy"}
    comparisons: list[Comparison] = []
    seen_keys = set()
    for j in n0.jobs:
        key = j["job_key"]
        seen_keys.add(key)
        if j["status"] == "failed":
            # A job that failed for the model's own reasons is a finding (1); anything
            # else (the farm, or a rigbench bug) means tonight cannot clear anyone (2).
            kind = FailureKind.parse(j["error_kind"])
            comparisons.append(
                _row(
                    key,
                    "job",
                    Outcome.FAILED if kind.blame is Blame.MODEL else Outcome.ERROR,
                    message=f"{j['error_kind']} ({kind.blame.phrase}): {j['error_message']}",
                )
            )
        elif key in n0.tonight:
            device = n0.tonight[key].device
            comparisons += compare_series(
                n0.tonight[key],
                n0.baselines[key],
                n0.samples,
                n0.policy,
                n0.flagged,
                pair=pairs.get(key),
                noisy=f"device {device} noisy tonight: {noisy[device]}"
                if device in noisy
                else None,
                unpaired=unpaired.get(key),
                accepted=n0.accepted.get(key),
            )
        else:
            comparisons.append(
                _row(key, "job", Outcome.ERROR, message=f"job ended as {j['status']!r}")
            )
    for key in sorted(n0.expected_series - seen_keys):
        device = _split_key(key)[0]
        state = states.get(device)
        if state is not None and state.state in BAD_DEVICE_STATES:
            comparisons.append(
                _row(key, "job", Outcome.ERROR, message=f"device {state.state}: {state.message}")
            )
        else:
            comparisons.append(
                _row(
                    key,
                    "job",
                    Outcome.NOT_ENOUGH_DATA,
                    message="in recent baselines, not in tonight's run",
                )
            )
    for state in states.values():
        fps = {
            tuple(c for c in b.changes if c.what.startswith("fingerprint."))
            for k, b in n0.baselines.items()
            if _split_key(k)[0] == state.device and b.new_baseline
        }
        state.fingerprint_changes = sorted({c for group in fps for c in group}, key=str)
    canary_runs = {h.canary_run_id for h in n0.health.values() if h.canary_run_id}
    return NightlyReport(
        run_id=n0.run_id,
        plan_name=n0.plan_name,
        started_at=n0.started_at,
        policy=n0.policy,
        baseline_runs=n0.baseline_runs,
        pinned_run=n0.pin,
        devices=[states[d] for d in sorted(states)],
        comparisons=comparisons,
        canary_run_id=next(iter(canary_runs)) if len(canary_runs) == 1 else None,
        pairs_run_id=pairs_run_id,
        context=n0.context,
    )


def evaluate_night(
    store: Store,
    run_id: str,
    policy: Policy | None = None,
    baseline_runs: int = 7,
    pin: str | None = None,
    health: Mapping[str, DeviceHealth] | None = None,
    selected_devices: set[str] | None = None,
    history_runs: int = HISTORY_RUNS,
) -> NightlyReport:
    """Compare a stored nightly run with its baselines, on the history alone; nothing written.

    ``health`` is the canary's word per device; ``selected_devices`` the devices tonight's plan
    selected (None: unknown, so every device of the recent baselines is expected).
    """
    n0 = prepare_night(
        store, run_id, policy, baseline_runs, pin, health, selected_devices, history_runs
    )
    return decide_night(n0)


def record_checks(store: Store, report: NightlyReport) -> None:
    """Keep the verdicts in the store (nightly_checks), replacing any for the same run."""
    rows: list[CheckRow] = []
    for c in report.comparisons:
        v = c.verdict
        rows.append(
            CheckRow(
                device=c.device,
                series=c.series,
                metric=c.metric,
                outcome=c.outcome.value,
                tonight=v.tonight if v else None,
                baseline=v.baseline if v else None,
                ratio=v.ratio if v else None,
                ratio_ci_low=v.ci_low if v else None,
                ratio_ci_high=v.ci_high if v else None,
                p_value=v.p_value if v else None,
                threshold=v.threshold if v else None,
                baseline_run_ids=list(c.baseline_runs),
                changes=[asdict(x) for x in c.changes],
                message=c.message or None,
                basis=(v.basis or None) if v else None,
                rounds=v.rounds if v else None,
                round_spread=v.round_spread if v else None,
                history_ratio=v.history_ratio if v else None,
                history_outcome=v.history_outcome if v else None,
                pairs_run_id=report.pairs_run_id if v and v.rounds else None,
            )
        )
    for d in report.devices:
        rows.append(
            CheckRow(
                device=d.device,
                series=f"{d.device}/device",
                metric="device",
                outcome=d.state,
                baseline_run_ids=[report.canary_run_id] if report.canary_run_id else [],
                changes=[asdict(x) for x in d.fingerprint_changes],
                message=d.message or None,
            )
        )
    write_checks(store, report.run_id, rows)
