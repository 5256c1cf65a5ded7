"""In which order A and B are measured: randomized, balanced, interleaved rounds.

Each round measures A once and B once, back to back on the same device, so whatever the
device was doing at that moment (a neighbour's build, a clock change, a warm or cold cache)
weighs on both. Which goes first is random (Abedi & Brecht, "Conducting repeatable
experiments in highly variable cloud computing environments", ICPE 2017): a fixed order would
turn a trend (a neighbour winding down, the board warming up) into a difference between A and
B. The draw is balanced, half the rounds A first and half B first (one more A-first round when
the count is odd), so going second can never be more common for one side than for the other;
and it is reproducible from the seed, which is stored with the run.
"""

from __future__ import annotations

import random
from typing import Literal

Side = Literal["A", "B"]


def round_orders(rounds: int, seed: int) -> list[tuple[Side, Side]]:
    """The order of A and B in each round: ceil(n/2) rounds ("A", "B"), the rest ("B", "A")."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    a_first: list[tuple[Side, Side]] = [("A", "B")] * ((rounds + 1) // 2)
    b_first: list[tuple[Side, Side]] = [("B", "A")] * (rounds // 2)
    orders = a_first + b_first
    random.Random(seed).shuffle(orders)
    return orders
