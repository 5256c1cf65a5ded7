"""Which events a live job stream sends: out-of-date progress is skipped, data never."""

from __future__ import annotations

from rigbench.agent.jobs import JobEvent, JobFailure, Progress, TelemetryBatch
from rigbench.agent.runner import _superseded


def ev(seq: int, body: object) -> JobEvent:
    return JobEvent("j", seq, body)  # type: ignore[arg-type]


def test_progress_with_a_newer_progress_queued_behind_it_is_skipped():
    assert _superseded(ev(0, Progress("loading")), [ev(1, Progress("warmup"))])


def test_progress_with_the_end_queued_behind_it_is_skipped():
    assert _superseded(ev(0, Progress("measuring", 10, 5)), [ev(1, JobFailure("model", "x"))])


def test_the_newest_progress_is_sent_even_with_telemetry_behind_it():
    assert not _superseded(ev(0, Progress("warmup")), [ev(1, TelemetryBatch())])
    assert not _superseded(ev(0, Progress("warmup")), [])


def test_telemetry_is_never_skipped():
    assert not _superseded(ev(0, TelemetryBatch()), [ev(1, Progress("warmup"))])
