"""Pure statistics for ranking: confidence intervals, ties within noise, the Pareto front.

Two choices whose figures differ by less than the measurement noise must not be ranked as if
one were better, so every ranked figure carries a confidence interval computed from the
per-iteration samples, and rows whose intervals overlap are marked as ties.

* A percentile's interval uses order statistics (distribution-free: latency is skewed and
  heavy-tailed, a normal interval would lie): the ranks bracketing the q-quantile of n
  samples come from the normal approximation to Binomial(n, q) (``rigbench.stats``). They
  assume independent iterations, so for a tail percentile they are a lower bound on the
  uncertainty; the median stored with each result uses batch medians instead.
* The mean's interval is mean +- z * sd / sqrt(n); cost and energy per inference scale with
  the time one inference takes, so they inherit its relative interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rigbench.stats import Interval


def tie_groups(items: Sequence[Interval | None]) -> list[int]:
    """For items sorted by point (best first), the index of the group leader of each item.

    An item joins the current group when its interval overlaps the leader's: it is not
    distinguishable from the best of the group within noise. Comparing with the leader (not
    the previous item) keeps groups from chaining across differences far beyond the noise.
    An item without an interval ties only with an identical point.
    """
    leaders: list[int] = []
    leader = 0
    for i, item in enumerate(items):
        if i > 0:
            head = items[leader]
            if not _same_group(head, item):
                leader = i
        leaders.append(leader)
    return leaders


def _same_group(head: Interval | None, item: Interval | None) -> bool:
    if head is None or item is None:
        return head is not None and item is not None and head.point == item.point
    if head.point == item.point:
        return True
    return head.overlaps(item)


def competition_ranks(leaders: Sequence[int]) -> list[int]:
    """1-based ranks where every member of a tie group shares its leader's position."""
    return [leader + 1 for leader in leaders]


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of the points no other point dominates, minimizing both coordinates.

    A point dominates another when it is no worse in both and better in one. Equal points
    are all on the front (neither dominates the other).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front: set[int] = set()
    best_y = math.inf
    best_point: tuple[float, float] | None = None
    for i in order:
        x, y = points[i]
        if y < best_y:
            front.add(i)
            best_y = y
            best_point = (x, y)
        elif best_point == (x, y):
            front.add(i)
    return front
