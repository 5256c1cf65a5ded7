"""Baseline selection on synthetic nightly histories (tests/builders/nightly.py) in real
DuckDB stores.
"""

from __future__ import annotations

from pathlib import Path

from rigbench.controller.baseline import history, nights_of_run, select_baseline
from rigbench.controller.store import Store
from tests.builders.nightly import FP, History, Series


def test_baseline_is_the_last_k_nights_newest_first(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    runs = [h.night([Series(iterations=50)]) for _ in range(5)]
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    b = select_baseline(night, past, k=3)
    assert b.run_ids == runs[::-1][:3]


def test_canary_and_plain_runs_are_not_baseline_nights(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    nightly = h.night([Series(iterations=50)])
    h.night([Series(iterations=50)], kind="canary")
    h.night([Series(iterations=50)], kind="run")
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    assert [n.run_id for n in past] == [nightly]


def test_fingerprint_change_starts_a_new_baseline(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    h.night([Series(iterations=50)])
    h.fingerprints["pi5-01"] = {**FP, "kernel": "6.6.40"}
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    b = select_baseline(night, past, k=7)
    assert b.new_baseline and not b.nights
    assert [str(c) for c in b.changes if c.splits] == ["fingerprint.kernel: 6.6.31 -> 6.6.40"]


def test_older_nights_before_a_fingerprint_change_stay_out_after_it_reverts(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    h.night([Series(iterations=50)])
    h.fingerprints["pi5-01"] = {**FP, "kernel": "6.6.40"}
    h.night([Series(iterations=50)])
    h.fingerprints["pi5-01"] = FP
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    assert select_baseline(night, past, k=7).new_baseline


def test_thread_count_change_starts_a_new_baseline(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    h.night([Series(iterations=50)])
    tonight = h.night([Series(iterations=50, threads=4)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    b = select_baseline(night, past, k=7)
    assert b.new_baseline
    assert [c.what for c in b.changes if c.splits] == ["runtime.intra_op_threads"]


def test_model_digest_change_is_reported_and_keeps_the_baseline(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    first = h.night([Series(iterations=50)])
    tonight = h.night([Series(iterations=50, model_version="v2")])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    b = select_baseline(night, past, k=7)
    assert b.run_ids == [first] and not b.new_baseline
    assert {c.what for c in b.changes} == {"model digest", "plan digest"}


def test_throttled_nights_stay_in_the_segment_but_are_not_evidence(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    good = h.night([Series(iterations=50)])
    h.night([Series(iterations=50, throttled=True)])
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    b = select_baseline(night, past, k=7)
    assert b.run_ids == [good] and b.skipped_throttled == 1


def test_pinned_run_is_the_only_baseline_night(tmp_path: Path):
    store = Store(tmp_path / "s.duckdb")
    h = History(store)
    pinned_run = h.night([Series(iterations=50)])
    h.night([Series(iterations=50)])
    tonight = h.night([Series(iterations=50)])
    night = nights_of_run(store, tonight)[Series().key]
    past = history(store, "nightly", night.started_at, tonight, 60)[Series().key]
    pinned = nights_of_run(store, pinned_run)[Series().key]
    b = select_baseline(night, past, k=7, pinned=pinned)
    assert b.run_ids == [pinned_run] and b.pinned
    assert len(b.noise_nights) == 1 and b.noise_nights[0].run_id != pinned_run
