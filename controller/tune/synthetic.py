"""Seeded synthetic configuration spaces: the race's proving ground, simulated, never measured.

Each synthetic configuration has a true median latency; a trial of it draws latencies that
remember each other (an AR(1) process on the log scale, as caches, clocks and neighbours
make real ones do), at a level that moves from one trial to the next (a fresh worker, a
fresh load), and costs a start-up overhead plus its measured loop. The tests and
``benchmarks/bench_tune.py`` race such spaces against exhaustive measurement of the same
space, where the truth is known. Figures from here are simulated and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rigbench.controller.tune.config import Config
from rigbench.controller.tune.evidence import Trial
from rigbench.controller.tune.race import Race, RaceOutcome, TrialRequest


@dataclass(frozen=True)
class Truth:
    """How a synthetic configuration behaves.

    ``sigma`` is the spread of log latency within a trial, ``phi`` the lag-1 autocorrelation
    of log latency, ``trial_sigma`` the spread of a trial's level around the true median,
    ``overhead_s`` what a trial costs besides its measured loop (start, load, warm-up).
    ``error`` is the accuracy figure a trial reports when asked; ``failure`` makes every trial
    fail with that message.
    """

    median_ms: float
    sigma: float = 0.1
    phi: float = 0.5
    trial_sigma: float = 0.005
    overhead_s: float = 1.0
    error: float | None = 1e-6
    failure: str | None = None
    power_w: float | None = None

    def percentile_ms(self, p: float) -> float:
        """The true ``p``th percentile of this configuration's latency (lognormal)."""
        from statistics import NormalDist

        return self.median_ms * math.exp(self.sigma * NormalDist().inv_cdf(p / 100.0))


def synthetic_space(
    seed: int,
    n: int,
    spread: float = 3.0,
    near_best: int = 2,
    near_gap: float = 0.03,
    overhead_s: float = 1.0,
) -> dict[Config, Truth]:
    """``n`` configurations with true medians between 1 ms and ``spread`` ms, seeded.

    ``near_best`` of them lie within ``near_gap`` (relative) of the best, the hard cases a race
    must not get wrong; the rest spread log-uniformly. Variants ``v0..v3`` share accuracy.
    """
    rng = np.random.default_rng(seed)
    medians = list(np.exp(rng.uniform(0.0, math.log(spread), n)))
    best = 1.0
    medians[0] = best
    for i in range(1, min(n, near_best + 1)):
        medians[i] = best * (1.0 + near_gap * rng.uniform(0.3, 1.0))
    order = rng.permutation(n)
    space: dict[Config, Truth] = {}
    for slot, i in enumerate(order):
        config = Config(
            variant=f"v{slot % 4}", runtime="synthetic", provider="cpu", threads=1 + slot // 4
        )
        space[config] = Truth(
            median_ms=float(medians[i]),
            sigma=float(rng.uniform(0.05, 0.3)),
            phi=float(rng.uniform(0.0, 0.8)),
            overhead_s=overhead_s * float(rng.uniform(0.7, 1.3)),
        )
    return space


def simulate(request: TrialRequest, truth: Truth, rng: np.random.Generator) -> Trial:
    """One trial of ``request`` on a configuration that behaves as ``truth``."""
    config = request.config
    overhead = min(truth.overhead_s, request.deadline_s)
    if truth.failure:
        return Trial(config, request.rung, overhead, request.duration_s, failure=truth.failure)
    duration_s = max(0.0, min(request.duration_s, request.deadline_s - overhead))
    level = truth.median_ms * 1e6 * math.exp(rng.normal(0.0, truth.trial_sigma))
    n = max(1, int(duration_s / (level / 1e9)))
    latencies = level * np.exp(truth.sigma * _ar1(n, truth.phi, rng))
    # As the agent's loop: it checks the time after each iteration, so it stops at the first
    # iteration that reaches the measured length (an inference is never cut short).
    ends = np.cumsum(latencies)
    reached = np.nonzero(ends >= duration_s * 1e9)[0]
    if reached.size:
        latencies = latencies[: reached[0] + 1]
    spent = float(latencies.sum()) / 1e9
    return Trial(
        config,
        request.rung,
        cost_s=overhead + spent,
        duration_s=request.duration_s,
        latencies_ns=latencies,
        power_w=truth.power_w,
        error=truth.error if request.accuracy else None,
        error_unknown=None if truth.error is not None or not request.accuracy else "no reference",
        job_id=f"sim-{config.key}-{request.rung}",
    )


def _ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal marginals with lag-1 autocorrelation ``phi``."""
    e = rng.normal(0.0, 1.0, n)
    if phi == 0.0:
        return e
    scale = math.sqrt(1.0 - phi * phi)
    x = np.empty(n)
    prev = e[0]
    x[0] = prev
    for i in range(1, n):
        prev = phi * prev + scale * e[i]
        x[i] = prev
    return x


def run(race: Race, space: dict[Config, Truth], rng: np.random.Generator) -> RaceOutcome:
    """Drive ``race`` to its end against the simulated ``space``."""
    while (request := race.next_trial()) is not None:
        race.tell(simulate(request, space[request.config], rng))
    return race.outcome()


def exhaustive(
    space: dict[Config, Truth],
    duration_s: float,
    rng: np.random.Generator,
) -> tuple[dict[Config, Trial], float]:
    """Measure every configuration once for ``duration_s``: the trials and the seconds spent."""
    trials: dict[Config, Trial] = {}
    for config, truth in space.items():
        request = TrialRequest(config, 0, duration_s, math.inf, accuracy=True)
        trials[config] = simulate(request, truth, rng)
    return trials, sum(t.cost_s for t in trials.values())
