"""Which events a live job stream sends: out-of-date progress is skipped, data never."""

from __future__ import annotations

from rigbench.agent.jobs import JobEvent, JobFailure, Progress, TelemetryBatch
from rigbench.agent.runner import _worth_sending
from rigbench.failures import FailureKind


def ev(seq: int, body: object) -> JobEvent:
    return JobEvent("j", seq, body)  # type: ignore[arg-type]


def sent(*bodies: object) -> list[int]:
    events = [ev(i, b) for i, b in enumerate(bodies)]
    return [e.seq for e in _worth_sending(events, 0, len(events))]


def test_progress_with_a_newer_progress_queued_behind_it_is_skipped():
    assert sent(Progress("loading"), Progress("warmup")) == [1]


def test_progress_with_the_end_queued_behind_it_is_skipped():
    assert sent(Progress("measuring", 10, 5), JobFailure(FailureKind.MODEL, "x")) == [1]


def test_the_newest_progress_is_sent_even_with_telemetry_behind_it():
    assert sent(Progress("warmup"), TelemetryBatch()) == [0, 1]
    assert sent(Progress("warmup")) == [0]


def test_telemetry_is_never_skipped():
    assert sent(TelemetryBatch(), Progress("warmup")) == [0, 1]


def test_only_the_part_not_yet_sent_is_looked_at():
    events = [ev(i, Progress("measuring", i, i)) for i in range(4)]
    assert [e.seq for e in _worth_sending(events, 2, 4)] == [3]
