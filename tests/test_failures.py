"""The failure taxonomy: one declaration per kind, read by every party; one wire table."""

from __future__ import annotations

import inspect

import grpc
import pytest

from rigbench import errors
from rigbench.agent.cache import ArtifactTooLargeError, DigestMismatchError
from rigbench.agent.status import WIRE_ERRORS, error_from_status, status_for, trailer_for
from rigbench.agent.worker import failure_of
from rigbench.errors import (
    AgentUnreachableError,
    DeviceBusyError,
    DiskFullError,
    InputSpecError,
    ModelRunError,
    RigbenchError,
)
from rigbench.failures import (
    EXIT_FARM,
    EXIT_MODEL,
    EXIT_OK,
    Blame,
    FailureKind,
    exit_code,
    trim_message,
)


def test_every_model_failure_is_never_retried_and_never_held_against_a_device() -> None:
    for kind in FailureKind:
        if kind.blame is Blame.MODEL:
            assert not kind.retry and not kind.strikes, kind


def test_a_rigbench_bug_is_not_retried_and_not_held_against_the_device() -> None:
    assert FailureKind.INTERNAL.blame is Blame.RIGBENCH
    assert not FailureKind.INTERNAL.retry and not FailureKind.INTERNAL.strikes


def test_every_kind_says_what_it_means_and_whose_fault_it_is() -> None:
    for kind in FailureKind:
        assert kind.meaning and kind.describe().startswith(f"{kind.value} (")
    assert FailureKind.RUNTIME.describe() == "runtime (the model's own error)"


def test_an_unknown_kind_from_an_agent_is_rigbench_s_own_fault() -> None:
    assert FailureKind.parse("something-new") is FailureKind.INTERNAL
    assert FailureKind.parse(None) is FailureKind.INTERNAL
    assert FailureKind.parse("disk-full") is FailureKind.DISK_FULL


def test_every_error_class_names_a_declared_kind() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, RigbenchError)
    ]
    assert len(classes) > 15
    for c in classes:
        assert isinstance(c.failure_kind, FailureKind), c
    assert errors.ModelLoadError.failure_kind is FailureKind.MODEL
    assert errors.ProviderUnavailableError.failure_kind.blame is Blame.FARM
    assert RigbenchError.failure_kind is FailureKind.INTERNAL  # unclassified: a bug


@pytest.mark.parametrize(
    ("kinds", "farm_failed", "code"),
    [
        ([], False, EXIT_OK),
        ([FailureKind.RUNTIME, FailureKind.INPUT], False, EXIT_MODEL),
        ([FailureKind.RUNTIME, FailureKind.UNREACHABLE], False, EXIT_FARM),
        ([FailureKind.INTERNAL], False, EXIT_FARM),
        ([], True, EXIT_FARM),
    ],
)
def test_exit_code_the_farm_wins_over_the_model(kinds, farm_failed, code) -> None:
    assert exit_code(kinds, farm_failed) == code


def test_messages_keep_their_own_words_trimmed() -> None:
    ort = (
        "\x1b[1;31m[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running "
        "Add node.\x1b[m\n"
    )
    assert trim_message(ort) == (
        "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Add node."
    )
    long = trim_message("x" * 10_000)
    assert len(long) <= 2000 and long.endswith("(trimmed)")


@pytest.mark.parametrize("cls", [cls for cls, _ in WIRE_ERRORS])
def test_each_wire_error_comes_back_as_its_own_class(cls: type[RigbenchError]) -> None:
    e = cls("what happened")
    (_, name), *_ = trailer_for(e)
    back = error_from_status(status_for(e), str(e), name, "127.0.0.1:1", "a call")
    assert type(back) is cls and str(back) == "what happened"


def test_shared_codes_are_told_apart_by_the_trailer() -> None:
    busy, full = DeviceBusyError("busy"), DiskFullError("full")
    assert status_for(busy) == status_for(full) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(
        error_from_status(status_for(full), "full", trailer_for(full)[0][1], "a", "b"),
        DiskFullError,
    )


def test_grpcs_own_message_limit_is_not_read_as_a_busy_device() -> None:
    """RESOURCE_EXHAUSTED from gRPC itself (a message over the limit) has no trailer."""
    e = error_from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "Sent message larger than max", None, "a:1", "job"
    )
    assert isinstance(e, AgentUnreachableError) and not isinstance(e, DeviceBusyError)


def test_upload_errors_keep_their_subclasses_on_the_wire() -> None:
    for cls in (ArtifactTooLargeError, DigestMismatchError):
        e = cls("x")
        assert type(error_from_status(status_for(e), "x", trailer_for(e)[0][1], "a", "b")) is cls


def test_the_worker_types_failures_by_where_they_happened() -> None:
    assert failure_of(ModelRunError("onnxruntime failed"))[0] is FailureKind.RUNTIME
    assert failure_of(InputSpecError("bad shape"))[0] is FailureKind.INPUT
    assert failure_of(OSError(28, "No space left on device"))[0] is FailureKind.DISK_FULL
    kind, message = failure_of(KeyError("oops"))
    assert kind is FailureKind.INTERNAL and message.startswith("rigbench bug (please report it)")


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN])
def test_a_connection_reset_mid_call_is_the_farms_not_a_rigbench_bug(code) -> None:
    """A stream reset by a dying agent arrives as INTERNAL or UNKNOWN without our trailer.

    The agent is gone (retry), not rigbench's bug (no retry).
    """
    e = error_from_status(code, "Received RST_STREAM with error code 2", None, "a:1", "job")
    assert isinstance(e, AgentUnreachableError)
    assert e.failure_kind is FailureKind.UNREACHABLE
