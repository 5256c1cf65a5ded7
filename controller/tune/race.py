"""Racing one device's configurations: short measurements first, then only the contenders.

Successive halving in the measurement's length, racing in what is kept: rung 0 measures
every configuration briefly; after each rung every configuration whose objective interval
lies wholly above the leader's (the best upper bound among those that surely meet the
constraints) is dropped, and the next rung measures the rest ``eta`` times longer, as far as
the budget goes. Nothing is dropped on a point estimate alone: a configuration survives
until its interval says it cannot be the best, so the race can only miss the best when an
interval misses (each is computed at a Bonferroni-corrected confidence over the
configurations and rungs, from the shared statistics module). Constraints prune as soon as
they are surely broken: a failure at once, an accuracy figure beyond ``max_error`` for every
configuration sharing the variant's kernels (accuracy is measured once per variant and
kernel family, and reused), a latency percentile whose lower bound exceeds the bound.

The race is a state machine with an ask/tell interface (``next_trial``/``tell``) and no
clock or I/O of its own: the caller measures (a job on a device, or a simulator in tests),
and replaying stored trials into a new race rebuilds the same state, which is how an
interrupted tune resumes. The budget is device seconds, everything included: a trial is
started only when its estimated cost fits, and is asked to stop at the budget's end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from rigbench.controller.tune.config import Config
from rigbench.controller.tune.evidence import Evidence, Objective, Trial, pool
from rigbench.stats import Interval


class PruneKind(str, Enum):
    """Why a configuration left the race."""

    failed = "failed"
    accuracy = "accuracy"
    latency = "latency bound"
    dominated = "dominated"


@dataclass(frozen=True)
class Pruned:
    kind: PruneKind
    rung: int
    detail: str  # the figures that decided it, for people


@dataclass(frozen=True)
class Constraints:
    """What the recommended configuration must meet (None: no constraint)."""

    latency_ms: float | None = None
    percentile: float = 99.0
    max_error: float | None = None


@dataclass(frozen=True)
class RacePolicy:
    """How the race spends its budget; docs/tune.md explains each choice.

    ``alpha`` is the chance, over the whole race, that some interval misses (Bonferroni over
    configurations x ``max_rungs``). ``job_noise_rel`` is the floor of job-to-job variation
    every interval is widened by. The first rung gets about ``first_rung_share`` of the budget,
    each later rung measures ``eta`` times longer than the one before, between
    ``min_trial_s`` and ``max_trial_s`` of measured loop per trial.
    """

    alpha: float = 0.05
    max_rungs: int = 5
    eta: float = 3.0
    min_trial_s: float = 0.5
    max_trial_s: float = 30.0
    first_rung_share: float = 0.3
    job_noise_rel: float = 0.02
    overhead_guess_s: float = 2.0  # start, load and warm-up of a trial, before one is seen

    def confidence(self, n_configs: int) -> float:
        return 1.0 - self.alpha / max(1, n_configs * self.max_rungs)


@dataclass(frozen=True)
class TrialRequest:
    """Measure ``config`` for ``duration_s`` of measured loop, stopping by ``deadline_s`` of
    device time (the budget left), and measure its accuracy when ``accuracy`` is True.
    """

    config: Config
    rung: int
    duration_s: float
    deadline_s: float
    accuracy: bool


@dataclass(frozen=True)
class Rung:
    index: int
    duration_s: float
    measured: int = 0
    pruned: int = 0
    skipped: int = 0  # contenders the budget left unmeasured at this rung


@dataclass
class Entry:
    """A configuration's place in the race."""

    config: Config
    trials: list[Trial] = field(default_factory=list)
    pruned: Pruned | None = None
    evidence: Evidence | None = None
    interval: Interval | None = None  # the objective's, widened by the job-noise floor

    @property
    def alive(self) -> bool:
        return self.pruned is None

    @property
    def measured(self) -> bool:
        return self.evidence is not None


@dataclass(frozen=True)
class AccuracyFigure:
    """A variant's accuracy on one kernel family, as its first trial measured it."""

    error: float | None
    unknown: str | None
    job_id: str


@dataclass
class RaceOutcome:
    """Where one device's race ended."""

    objective: Objective
    constraints: Constraints
    confidence: float
    budget_s: float
    spent_s: float
    rungs: list[Rung]
    entries: list[Entry]
    accuracy: dict[str, AccuracyFigure]
    stop_reason: str
    recommended: Entry | None
    ties: list[Entry]
    why_none: str | None  # why nothing is recommended

    def entry(self, config: Config) -> Entry:
        return next(e for e in self.entries if e.config == config)


class Race:
    """One device's race (see the module docstring)."""

    def __init__(
        self,
        configs: Sequence[Config],
        budget_s: float,
        objective: Objective,
        constraints: Constraints = Constraints(),
        policy: RacePolicy = RacePolicy(),
        accuracy_key: Callable[[Config], str] = lambda c: c.variant,
    ):
        if len(set(configs)) != len(configs):
            raise ValueError("a configuration is listed twice")
        self.objective = objective
        self.constraints = constraints
        self.policy = policy
        self.budget_s = float(budget_s)
        self.accuracy_key = accuracy_key
        self.confidence = policy.confidence(len(configs))
        self.entries = {c: Entry(c) for c in configs}
        self.accuracy: dict[str, AccuracyFigure] = {}
        self.spent_s = 0.0
        self.rungs: list[Rung] = []
        self._queue: list[Config] = []
        self._pending: Config | None = None
        self._overheads: dict[Config, float] = {}
        self._accuracy_asked: dict[str, Config] = {}  # key -> the configuration asked
        self.stop_reason = ""
        if not configs:
            self.stop_reason = "nothing to measure"
        else:
            self._open_rung(self._first_duration(len(configs)), spread(configs))

    # --- ask / tell -----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return bool(self.stop_reason)

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.budget_s - self.spent_s)

    def next_trial(self) -> TrialRequest | None:
        """The next trial to run, or None when the race is over (or a trial is out)."""
        if self._pending is not None:
            return None
        while not self.done:
            while self._queue:
                config = self._queue[0]
                entry = self.entries[config]
                if not entry.alive:
                    self._queue.pop(0)
                    continue
                rung = self.rungs[-1]
                if self._estimate(config, rung.duration_s) > self.remaining_s:
                    # It does not fit; a shorter one still may: the budget's end is reached
                    # when not even the shortest trial fits.
                    self._skip(config)
                    continue
                self._pending = config
                key = self.accuracy_key(config)
                ask_accuracy = key not in self.accuracy and key not in self._accuracy_asked
                if ask_accuracy:
                    self._accuracy_asked[key] = config
                return TrialRequest(
                    config, rung.index, rung.duration_s, self.remaining_s, ask_accuracy
                )
            self._close_rung()
        return None

    def tell(self, trial: Trial) -> None:
        """Record a trial's outcome (the one asked for, or a stored one being replayed)."""
        config = trial.config
        if config not in self.entries:
            raise ValueError(f"{config.key} is not in this race")
        if self._pending == config:
            self._pending = None
        if config in self._queue:
            self._queue.remove(config)
        entry = self.entries[config]
        entry.trials.append(trial)
        self.spent_s += trial.cost_s
        if trial.latencies_ns is not None:
            self._overheads[config] = max(0.0, trial.cost_s - trial.duration_s)
        rung = self.rungs[-1]
        self.rungs[-1] = _replace(rung, measured=rung.measured + 1)
        if trial.failure:
            self._prune(entry, PruneKind.failed, trial.failure)
            key = self.accuracy_key(config)
            if self._accuracy_asked.get(key) == config and key not in self.accuracy:
                del self._accuracy_asked[key]  # the next configuration of its kernels asks
            return
        if trial.error is not None or trial.error_unknown is not None:
            key = self.accuracy_key(config)
            self.accuracy.setdefault(
                key, AccuracyFigure(trial.error, trial.error_unknown, trial.job_id)
            )
            self._prune_on_accuracy(key)
        entry.evidence = pool(entry.trials, self.confidence, self._percentile)
        self._prune_on_latency(entry)

    def stop(self, reason: str) -> None:
        """End the race early (the device failed, the user interrupted)."""
        self._pending = None
        self.stop_reason = self.stop_reason or reason

    # --- rungs ----------------------------------------------------------------------------------
    @property
    def _percentile(self) -> float | None:
        return self.constraints.percentile if self.constraints.latency_ms is not None else None

    def _first_duration(self, n: int) -> float:
        p = self.policy
        share = self.budget_s * p.first_rung_share / n - p.overhead_guess_s
        return min(p.max_trial_s, max(p.min_trial_s, share))

    def _open_rung(self, duration_s: float, configs: list[Config]) -> None:
        self.rungs.append(Rung(len(self.rungs), duration_s))
        self._queue = list(configs)

    def _estimate(self, config: Config, duration_s: float) -> float:
        """Device seconds a trial of ``config`` will cost: the largest start-up seen so far (a
        trial's start-up varies, on a loaded device by seconds: the largest keeps the budget
        from being overrun), or the policy's guess before any.
        """
        seen = max(self._overheads.values(), default=self.policy.overhead_guess_s)
        return seen + duration_s

    def _skip(self, config: Config) -> None:
        self._queue.remove(config)
        rung = self.rungs[-1]
        self.rungs[-1] = _replace(rung, skipped=rung.skipped + 1)

    def _close_rung(self) -> None:
        self._refresh_intervals()
        self._prune_dominated()
        alive = [e for e in self.entries.values() if e.alive]
        measured = [e for e in alive if e.measured]
        rung = self.rungs[-1]
        if not alive:
            self.stop_reason = "every configuration was pruned"
            return
        if rung.measured == 0:
            self.stop_reason = "the budget is spent"
            return
        if len(alive) == 1 and alive[0].evidence is not None and alive[0].evidence.reliable:
            self.stop_reason = "one contender left"
            return
        if len(measured) == len(alive) and self._tied_at_floor(alive):
            self.stop_reason = (
                f"the {len(alive)} contenders are within the job-to-job noise floor "
                f"({self.policy.job_noise_rel:.0%}) of each other: more measurement cannot "
                "separate them"
            )
            return
        if rung.index + 1 >= self.policy.max_rungs:
            self.stop_reason = f"{self.policy.max_rungs} rungs measured"
            return
        p = self.policy
        per_trial = self.remaining_s / len(alive) - max(
            (self._overheads.get(e.config, p.overhead_guess_s) for e in alive), default=0.0
        )
        # Each rung measures longer than the one before (up to eta times): a shorter one would
        # add little to what is known. When the budget cannot give every contender that
        # much, the most promising are measured and the rest skipped (they stay contenders).
        duration = min(p.max_trial_s, rung.duration_s * p.eta, max(rung.duration_s, per_trial))
        if self.remaining_s < min(self._estimate(e.config, duration) for e in alive):
            self.stop_reason = "the budget is spent"
            return
        # The most promising first: if the budget runs short, the contenders left out are
        # those least likely to win.
        order = sorted(
            alive, key=lambda e: (e.interval is None, e.interval.lo if e.interval else 0)
        )
        self._open_rung(duration, [e.config for e in order])

    def _refresh_intervals(self) -> None:
        for e in self.entries.values():
            e.interval = (
                self.objective.interval(e.evidence, self.policy.job_noise_rel)
                if e.evidence is not None
                else None
            )

    def _tied_at_floor(self, alive: list[Entry]) -> bool:
        """Every contender's own interval is narrower than the job-noise floor, and they all
        overlap: measuring longer narrows only what the floor already hides.
        """
        floor = self.policy.job_noise_rel
        for e in alive:
            m = e.evidence.median if e.evidence else None
            if m is None or not m.reliable or m.median <= 0:
                return False
            if (m.high - m.low) / m.median > floor:
                return False
        ivs = [e.interval for e in alive]
        return all(i is not None for i in ivs) and max(i.lo for i in ivs if i) <= min(
            i.hi for i in ivs if i
        )

    # --- pruning --------------------------------------------------------------------------------
    def _prune(self, entry: Entry, kind: PruneKind, detail: str) -> None:
        if entry.pruned is None:
            entry.pruned = Pruned(kind, self.rungs[-1].index, detail)
            rung = self.rungs[-1]
            self.rungs[-1] = _replace(rung, pruned=rung.pruned + 1)

    def _prune_on_accuracy(self, key: str) -> None:
        limit = self.constraints.max_error
        fig = self.accuracy[key]
        if limit is None:
            return
        if fig.error is None:
            why = f"accuracy unknown ({fig.unknown}), so max error {limit:g} cannot be shown met"
        elif math.isnan(fig.error) or fig.error > limit:
            why = f"max abs error {fig.error:.3g} > {limit:g}"
        else:
            return
        for e in self.entries.values():
            if e.alive and self.accuracy_key(e.config) == key:
                self._prune(e, PruneKind.accuracy, why)

    def _prune_on_latency(self, entry: Entry) -> None:
        c = self.constraints
        ev = entry.evidence
        if c.latency_ms is None or ev is None or ev.bound is None or ev.bound.interval is None:
            return
        qi = ev.bound.interval
        if qi.reliable and not qi.low_clipped and qi.low > c.latency_ms * 1e6:
            self._prune(
                entry,
                PruneKind.latency,
                f"p{c.percentile:g} at least {qi.low / 1e6:.3g} ms (interval "
                f"{qi.low / 1e6:.3g}-{qi.high / 1e6:.3g} ms) > {c.latency_ms:g} ms",
            )

    def _surely_meets(self, e: Entry) -> bool:
        """The constraints are met beyond doubt: only such a configuration may lead."""
        c = self.constraints
        if c.max_error is not None:
            fig = self.accuracy.get(self.accuracy_key(e.config))
            if fig is None or fig.error is None or fig.error > c.max_error:
                return False
        if c.latency_ms is not None:
            ev = e.evidence
            qi = ev.bound.interval if ev is not None and ev.bound is not None else None
            if qi is None or not qi.reliable or qi.high_clipped or qi.high > c.latency_ms * 1e6:
                return False
        return True

    def _prune_dominated(self) -> None:
        ready = [
            e
            for e in self.entries.values()
            if e.alive and e.interval is not None and e.evidence is not None and e.evidence.reliable
        ]
        leaders = [e for e in ready if self._surely_meets(e)]
        if not leaders:
            return
        leader = min(leaders, key=lambda e: e.interval.hi if e.interval else math.inf)
        assert leader.interval is not None
        unit = self.objective.unit
        for e in ready:
            if e is leader or e.interval is None:
                continue
            if e.interval.lo > leader.interval.hi:
                self._prune(
                    e,
                    PruneKind.dominated,
                    f"{self.objective.name} {_fmt(e.interval)} {unit}, above "
                    f"{leader.config.key}'s {_fmt(leader.interval)} {unit}",
                )

    # --- the answer -----------------------------------------------------------------------------
    def outcome(self) -> RaceOutcome:
        """The race's result; callable at any time (an interrupted race reports what it has)."""
        self._refresh_intervals()
        c = self.constraints
        qualifying = []
        why_none = None
        for e in self.entries.values():
            if not e.alive or e.interval is None or e.evidence is None:
                continue
            if c.max_error is not None:
                fig = self.accuracy.get(self.accuracy_key(e.config))
                if fig is None or fig.error is None or fig.error > c.max_error:
                    continue
            if c.latency_ms is not None and e.evidence.bound is not None:
                if e.evidence.bound.point_ns > c.latency_ms * 1e6:
                    continue
            qualifying.append(e)
        best = min(qualifying, key=lambda e: e.interval.point if e.interval else 0, default=None)
        ties: list[Entry] = []
        if best is not None and best.interval is not None:
            ties = [
                e
                for e in qualifying
                if e is not best and e.interval is not None and e.interval.overlaps(best.interval)
            ]
            ties.sort(key=lambda e: e.interval.point if e.interval else 0)
        else:
            why_none = _why_none(list(self.entries.values()), self.objective)
        return RaceOutcome(
            objective=self.objective,
            constraints=c,
            confidence=self.confidence,
            budget_s=self.budget_s,
            spent_s=self.spent_s,
            rungs=list(self.rungs),
            entries=list(self.entries.values()),
            accuracy=dict(self.accuracy),
            stop_reason=self.stop_reason or "interrupted",
            recommended=best,
            ties=ties,
            why_none=why_none,
        )


def spread(configs: Sequence[Config]) -> list[Config]:
    """The first rung's order: one configuration of each (variant, runtime, provider) in turn.

    When the budget cannot give every configuration its first short trial, the ones left out
    are then spread over every variant and runtime instead of being all of the last variant.
    Deterministic, so a resumed race asks for the same trials in the same order.
    """
    groups: dict[tuple[str, str, str], list[Config]] = {}
    for c in configs:
        groups.setdefault((c.variant, c.runtime, c.provider), []).append(c)
    queues = list(groups.values())
    out: list[Config] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _why_none(entries: list[Entry], objective: Objective) -> str:
    if not any(e.measured for e in entries):
        return "no configuration was measured"
    alive = [e for e in entries if e.alive]
    if not alive:
        return "every configuration was pruned (see why for each)"
    if all(e.interval is None for e in alive if e.measured):
        return f"the {objective.name} of no contender is known"
    return "no contender meets the constraints at its measured figures"


def _fmt(iv: Interval) -> str:
    return f"{iv.point:.4g} [{iv.lo:.4g}, {iv.hi:.4g}]"


def _replace(rung: Rung, **changes: int) -> Rung:
    from dataclasses import replace

    return replace(rung, **changes)
