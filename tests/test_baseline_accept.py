"""`rigbench baseline accept`: an expected change becomes the new baseline, with its reason.

Nights are synthetic (tests.test_nightly_history) in a real store; the pairs are made up as
in test_nightly_pairs. A regression stays reported until it is accepted; after that the
series is compared with the accepted night, by the pair and by the history behind the other
metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.context import use_flags
from rigbench.controller.cli import app
from rigbench.controller.nightly.accept import accept
from rigbench.controller.nightly.evaluate import decide_night, prepare_night, record_checks
from rigbench.controller.nightly.verdicts import Outcome
from rigbench.controller.store import Store
from rigbench.errors import PlanError, StoreError
from tests.builders.nightly import History, Series

KEY = Series().key
GROWN = Series(iterations=100, model_version="v2", slowdown=1.5, peak_rss_bytes=78_000_000)


def nights(tmp_path: Path) -> tuple[Store, History, list[str]]:
    """Three quiet nights, then a bigger model (+50 % latency, +30 % memory), all checked."""
    store = Store(tmp_path / "s.duckdb", create=True)
    h = History(store)
    runs = [h.night([Series(iterations=100)]) for _ in range(3)]
    runs.append(h.night([GROWN]))
    for run in runs:
        record_checks(store, decide_night(prepare_night(store, run)))
    return store, h, runs


def memory(store: Store, run: str) -> Outcome:
    report = decide_night(prepare_night(store, run))
    (c,) = [c for c in report.comparisons if c.metric == "peak_rss"]
    return c.outcome


def test_a_regression_stays_reported_until_it_is_accepted(tmp_path: Path):
    store, h, runs = nights(tmp_path)
    grown = GROWN
    assert memory(store, runs[-1]) is Outcome.REGRESSION
    n0 = prepare_night(store, h.night([grown]))
    assert n0.pair_references()[KEY].run_id == runs[2]  # the last good night
    assert memory(store, n0.run_id) is Outcome.REGRESSION
    record_checks(store, decide_night(n0))

    (a,) = accept(store, runs[-1], "the new backbone needs 18 MB more; agreed in #123")
    assert (a.run_id, a.series) == (runs[-1], KEY)
    tonight = h.night([grown])
    n0 = prepare_night(store, tonight)
    assert n0.pair_references()[KEY].run_id == runs[-1]
    assert n0.baselines[KEY].run_ids[-1] == runs[-1]  # the history starts at the accepted night
    report = decide_night(n0)
    (c,) = [c for c in report.comparisons if c.metric == "peak_rss"]
    assert c.outcome is Outcome.NO_CHANGE
    assert any("baseline accepted" in f and "agreed in #123" in f for f in c.flags)


def test_a_series_is_accepted_at_its_newest_night(tmp_path: Path):
    store, _, runs = nights(tmp_path)
    (a,) = accept(store, "cnn/fp32", "expected")
    assert (a.run_id, a.series) == (runs[-1], KEY)


def test_the_accept_records_why_and_the_code_context(tmp_path: Path):
    store, _, runs = nights(tmp_path)
    use_flags(git_sha="abc123", pull_request="9")
    try:
        accept(store, runs[-1], "  bigger model  ")
    finally:
        use_flags()
    (row,) = store.query("SELECT run_id, series, why, git_sha, pull_request FROM baseline_accepts")
    assert row == {
        "run_id": runs[-1], "series": KEY, "why": "bigger model", "git_sha": "abc123",
        "pull_request": "9",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("target", "why", "error", "message"),
    [
        ("nosuch", "x", StoreError, "neither a run id nor a nightly series"),
        ("pi5-01", "   ", PlanError, "--why must say why"),
    ],
)
def test_bad_accepts_say_what_is_wrong(tmp_path, target, why, error, message):
    store, _, _ = nights(tmp_path)
    with pytest.raises(error, match=message):
        accept(store, target, why)


def test_an_ambiguous_series_lists_the_candidates(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb", create=True)
    History(store).night([Series(iterations=50), Series(iterations=50, variant="int8")])
    with pytest.raises(PlanError, match="matches several series"):
        accept(store, "pi5-01", "x")


def test_a_run_that_is_not_a_nightly_is_refused(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb", create=True)
    run = History(store).night([Series(iterations=50)], kind="run")
    with pytest.raises(StoreError, match="not a nightly run"):
        accept(store, run, "x")


def test_the_command_says_what_it_accepted(tmp_path: Path):
    _, _, runs = nights(tmp_path)
    args = ["baseline", "accept", runs[-1], "--why", "bigger model"]
    r = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "s.duckdb"), "--pull-request", "4"]
    )
    assert r.exit_code == 0, r.output
    assert f"accepted run {runs[-1]} as the baseline of 1 series: bigger model" in r.output
    assert KEY in r.output and "PR #4" in r.output
    r = CliRunner().invoke(app, ["baseline", "accept", "nosuch", "--why", "x", "--store",
                                 str(tmp_path / "s.duckdb")])  # fmt: skip
    assert r.exit_code == 2 and r.output.startswith("error: ") and "Traceback" not in r.output
