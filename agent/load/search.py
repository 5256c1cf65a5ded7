"""The peak QPS whose latency percentile meets the bound: bracketing, then bisection.

Pure: a step is any function from a target QPS to whether the bound held there (the worker
runs a server load point; the tests run a simulated queue). The search assumes, as MLPerf
LoadGen's peak finding does, that a bound met at some rate is met at every lower one, and
copes with the noise near the edge by trusting the newest evidence: a rate that held above
one that failed reopens the bracket upwards, and the reverse downwards.

1. Start at ``start_qps`` (the worker's estimate: the executors' throughput with requests
   queued back to back, which no open-loop rate can exceed for long).
2. Until a rate held, halve it (giving up at ``FLOOR_FRACTION`` of the start: the bound is
   beneath the service time); until a rate failed, multiply by ``GROW``.
3. Bisect between the highest rate that held and the lowest that failed, until they are
   within ``rel_tol`` of each other (or ``max_steps`` points have run).

Steps that fail stop early (``engine.BOUND_LOST``), so searching costs little more than the
points that hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

REL_TOL = 0.03
MAX_STEPS = 16
GROW = 1.5
# Give up once a rate this far below the estimate failed: at a few percent of what the
# executors can do nobody queues, so the bound is beneath the service time itself.
FLOOR_FRACTION = 1 / 32

CONVERGED = "converged"
MAX_STEPS_REACHED = "max_steps"
NEVER_HELD = "bound never met"


@dataclass(frozen=True)
class Step:
    """One load point of the search: the rate asked for, the rate offered, and the verdict."""

    target_qps: float
    achieved_qps: float
    held: bool


@dataclass
class PeakSearch:
    steps: list[Step] = field(default_factory=list)  # in the order they ran
    reason: str = ""

    @property
    def peak(self) -> Step | None:
        """The step with the highest target among those that held (None: none held)."""
        held = [s for s in self.steps if s.held]
        return max(held, key=lambda s: s.target_qps) if held else None


def find_peak(
    run_step: Callable[[float], Step],
    start_qps: float,
    rel_tol: float = REL_TOL,
    max_steps: int = MAX_STEPS,
) -> PeakSearch:
    """Search for the highest rate at which ``run_step`` holds (see the module docstring)."""
    if not start_qps > 0:
        raise ValueError(f"start_qps must be positive, got {start_qps!r}")
    out = PeakSearch()
    lo: float | None = None  # highest target that held, below hi
    hi: float | None = None  # lowest target that failed, above lo
    q = start_qps
    while len(out.steps) < max_steps:
        step = run_step(q)
        out.steps.append(step)
        if step.held:
            lo = max(lo or 0.0, q)
            if hi is not None and q >= hi:
                hi = None  # the edge is higher than the failure suggested
        else:
            hi = q if hi is None else min(hi, q)
            if lo is not None and q <= lo:
                below = [s.target_qps for s in out.steps if s.held and s.target_qps < q]
                lo = max(below) if below else None
        if lo is None:
            if q <= start_qps * FLOOR_FRACTION:
                out.reason = NEVER_HELD
                return out
            q = q / 2
        elif hi is None:
            q = lo * GROW
        else:
            if (hi - lo) / hi <= rel_tol:
                out.reason = CONVERGED
                return out
            q = (lo + hi) / 2
    out.reason = MAX_STEPS_REACHED
    return out
