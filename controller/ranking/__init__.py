"""Rank deployment choices by cost under latency, accuracy, memory and throttling constraints.

`rank` answers "which device and variant serve this model at the lowest cost?"; `fleet`
answers "how many of them for this load?". Statistics are pure (`stats`), store reads are
set-based SQL (`source`), and the reports render the `Ranking` these return.
"""

from rigbench.controller.ranking.constraints import Constraints, Exclusion
from rigbench.controller.ranking.rank import Choice, RankBy, Ranking, RankRequest, rank

__all__ = [
    "Choice",
    "Constraints",
    "Exclusion",
    "RankBy",
    "RankRequest",
    "Ranking",
    "rank",
]
