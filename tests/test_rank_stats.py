"""Pure statistics of ranking: order-statistic intervals, ties within noise, the Pareto front."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.controller.ranking.stats import competition_ranks, pareto_front, tie_groups
from rigbench.stats import Interval, mean_ci, quantile_ci_ranks

coord = st.floats(min_value=0, max_value=1e6, allow_nan=False)


def test_median_interval_of_100_samples_spans_the_textbook_ranks() -> None:
    # n = 100, q = 0.5: 50 -+ 1.96 * 5 -> ranks 40 and 61 (conservative rounding).
    assert quantile_ci_ranks(100, 0.5) == (40, 61)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_order_statistic_interval_covers_the_true_quantile_about_95_percent(q: float) -> None:
    rng = np.random.default_rng(7)
    n, trials, hits = 2000, 400, 0
    for _ in range(trials):
        x = np.sort(rng.exponential(1.0, n))
        lo, hi = quantile_ci_ranks(n, q)
        hits += x[lo - 1] <= -np.log(1 - q) <= x[hi - 1]
    assert 0.92 <= hits / trials <= 0.99


@given(n=st.integers(1, 100_000), q=st.sampled_from([0.5, 0.9, 0.99]))
def test_interval_ranks_are_ordered_and_inside_the_sample(n: int, q: float) -> None:
    lo, hi = quantile_ci_ranks(n, q)
    assert 1 <= lo <= hi <= n


def test_mean_interval_narrows_with_more_samples() -> None:
    few, many = mean_ci(10.0, 2.0, 100), mean_ci(10.0, 2.0, 10_000)
    assert (many.hi - many.lo) == pytest.approx((few.hi - few.lo) / 10)


def test_overlapping_intervals_are_one_tie_group() -> None:
    items = [Interval(1.0, 0.9, 1.1), Interval(1.05, 0.95, 1.2), Interval(2.0, 1.9, 2.1)]
    assert tie_groups(items) == [0, 0, 2]
    assert competition_ranks(tie_groups(items)) == [1, 1, 3]


def test_ties_do_not_chain_past_the_group_leader() -> None:
    # b overlaps a and c overlaps b, but c is clearly worse than a: c starts a new group.
    a, b, c = Interval(1.0, 0.9, 1.1), Interval(1.15, 1.05, 1.3), Interval(1.3, 1.2, 1.4)
    assert tie_groups([a, b, c]) == [0, 0, 2]


def test_item_without_interval_ties_only_with_an_equal_point() -> None:
    assert tie_groups([Interval(1.0, 0.5, 1.5), None, None]) == [0, 1, 2]


@given(st.lists(st.tuples(coord, coord), min_size=1, max_size=40))
def test_no_point_on_the_front_is_dominated(points: list[tuple[float, float]]) -> None:
    front = pareto_front(points)
    for i in front:
        xi, yi = points[i]
        assert not any(
            x <= xi and y <= yi and (x < xi or y < yi) for j, (x, y) in enumerate(points)
        )


@given(st.lists(st.tuples(coord, coord), min_size=1, max_size=40))
def test_every_point_off_the_front_is_dominated_by_one_on_it(
    points: list[tuple[float, float]],
) -> None:
    front = pareto_front(points)
    for i, (xi, yi) in enumerate(points):
        if i not in front:
            assert any(
                points[j][0] <= xi and points[j][1] <= yi and points[j] != (xi, yi) for j in front
            )
