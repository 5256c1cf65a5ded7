"""The agent's on-disk spool: length-prefixed events, torn records, job ids, retention."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigbench.agent.jobs import JobEvent, JobFailure, Progress, TelemetryBatch, TelemetryPoint
from rigbench.agent.spool import DONE_MARK, Spool, check_job_id
from rigbench.errors import AgentError
from rigbench.failures import FailureKind
from tests.builders.wire import event_bodies


def progress(seq: int, job: str = "job-1") -> JobEvent:
    return JobEvent(job, seq, Progress("measuring", iterations=seq * 10, elapsed_ns=seq))


def finished(seq: int, job: str = "job-1") -> JobEvent:
    return JobEvent(job, seq, JobFailure(FailureKind.MODEL, "corrupt model"))


def make_old(folder: Path, days: float) -> None:
    t = time.time() - days * 86400
    os.utime(folder, (t, t))


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", retention_days=7, max_bytes=1 << 20)


# --- round trips ------------------------------------------------------------------------------


@settings(deadline=None, max_examples=50)  # no wall-clock limits: the machine is shared
@given(st.lists(event_bodies, max_size=8))
def test_events_read_back_as_written(bodies: list[object]) -> None:
    events = [JobEvent("job-1", i, b) for i, b in enumerate(bodies)]  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        js = Spool(Path(tmp)).create("job-1")
        for e in events:
            js.append(e)
        assert list(js.read()) == events


def test_read_from_seq_skips_earlier_events(spool: Spool) -> None:
    js = spool.create("job-1")
    for i in range(5):
        js.append(progress(i))
    assert [e.seq for e in js.read(from_seq=3)] == [3, 4]


def test_last_seq_of_an_empty_spool_is_minus_one(spool: Spool) -> None:
    js = spool.create("job-1")
    assert js.last_seq() == -1
    js.append(progress(0))
    js.append(progress(1))
    assert js.last_seq() == 1


def test_spool_is_finished_only_after_a_terminal_event(spool: Spool) -> None:
    js = spool.create("job-1")
    js.append(progress(0))
    js.append(JobEvent("job-1", 1, TelemetryBatch((TelemetryPoint(1, "cpu", "temp_mc", 5.0),))))
    assert not js.finished
    js.append(finished(2))
    assert js.finished


def test_exists_once_an_event_is_written(spool: Spool) -> None:
    assert not spool.exists("job-1")
    js = spool.create("job-1")
    assert not spool.exists("job-1")
    js.append(progress(0))
    assert spool.exists("job-1")


def test_spools_of_different_jobs_are_separate(spool: Spool) -> None:
    spool.create("a").append(progress(0, "a"))
    spool.create("b").append(progress(7, "b"))
    assert [e.seq for e in spool.job("a").read()] == [0]
    assert [e.seq for e in spool.job("b").read()] == [7]


# --- torn records -----------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5, 10])
def test_torn_last_record_is_skipped(spool: Spool, cut: int) -> None:
    js = spool.create("job-1")
    for i in range(3):
        js.append(progress(i))
    data = js.events_path.read_bytes()
    js.events_path.write_bytes(data[:-cut])
    assert [e.seq for e in js.read()] == [0, 1]


@pytest.mark.parametrize("partial", [b"\x05", b"\x05\x00", b"\x05\x00\x00"])
def test_torn_length_prefix_is_skipped(spool: Spool, partial: bytes) -> None:
    js = spool.create("job-1")
    js.append(progress(0))
    with open(js.events_path, "ab") as f:
        f.write(partial)
    assert [e.seq for e in js.read()] == [0]


@settings(deadline=None, max_examples=50)  # no wall-clock limits: the machine is shared
@given(st.integers(1, 6), st.data())
def test_any_truncation_yields_a_prefix_of_the_events(n: int, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        js = Spool(Path(tmp)).create("job-1")
        events = [progress(i) for i in range(n)]
        for e in events:
            js.append(e)
        raw = js.events_path.read_bytes()
        js.events_path.write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
        got = list(js.read())
        assert got == events[: len(got)]


@pytest.mark.parametrize("cut", [1, 3, 5, 10])
def test_event_appended_after_a_torn_record_is_readable(spool: Spool, cut: int) -> None:
    # An agent that died mid-write restarts and closes the orphaned job with a failure.
    js = spool.create("job-1")
    for i in range(3):
        js.append(progress(i))
    js.events_path.write_bytes(js.events_path.read_bytes()[:-cut])
    reopened = spool.job("job-1")
    reopened.append(finished(reopened.last_seq() + 1))
    assert [e.seq for e in reopened.read()] == [0, 1, 2]
    assert isinstance(list(reopened.read())[-1].body, JobFailure)


def test_missing_events_file_reads_as_empty(spool: Spool) -> None:
    assert list(spool.job("never-ran").read()) == []


# --- job ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["job-1", "run_2024.07.01", "a", "A" * 128, "0"])
def test_valid_job_ids_are_accepted(good: str) -> None:
    assert check_job_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "../etc", "a/b", "a\\b", ".hidden", "a b", "A" * 129, "x\n", "a\x00"]
)
def test_invalid_job_ids_are_refused(spool: Spool, bad: str) -> None:
    with pytest.raises(AgentError, match="invalid job id"):
        spool.create(bad)
    assert list(spool.root.iterdir()) == []


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.text(max_size=140))
def test_accepted_job_ids_stay_inside_the_spool(job_id: str) -> None:
    try:
        check_job_id(job_id)
    except AgentError:
        return
    root = Path("/spool")
    assert (root / job_id).parent == root
    assert job_id not in (".", "..")


# --- retention --------------------------------------------------------------------------------


def test_prune_removes_finished_spools_past_retention(spool: Spool) -> None:
    old = spool.create("old")
    old.append(finished(0, "old"))
    make_old(old.folder, 8)
    recent = spool.create("recent")
    recent.append(finished(0, "recent"))
    assert spool.prune() == ["old"]
    assert not old.folder.exists() and recent.folder.exists()


def test_prune_keeps_unfinished_spools_however_old(spool: Spool) -> None:
    js = spool.create("running")
    js.append(progress(0, "running"))
    make_old(js.folder, 30)
    assert spool.prune() == []
    assert js.folder.exists()


def test_prune_keeps_spools_it_is_told_to_keep(spool: Spool) -> None:
    js = spool.create("attached")
    js.append(finished(0, "attached"))
    make_old(js.folder, 30)
    assert spool.prune(keep={"attached"}) == []


def test_prune_removes_oldest_finished_spools_over_the_size_cap(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", retention_days=7, max_bytes=2500)
    for i, name in enumerate(["a", "b", "c"]):
        js = sp.create(name)
        js.append(JobEvent(name, 0, JobFailure(FailureKind.MODEL, "x" * 1000)))
        make_old(js.folder, 3 - i)  # a oldest, c newest; all within retention
    assert sp.prune() == ["a"]
    assert (sp.root / "b" / DONE_MARK).exists() and (sp.root / "c").exists()


def test_prune_ignores_stray_files_in_the_root(spool: Spool) -> None:
    (spool.root / "notes.txt").write_text("x")
    assert spool.prune() == []
    assert (spool.root / "notes.txt").exists()
