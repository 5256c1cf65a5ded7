"""Errors on the wire: one table from error class to gRPC status code, used both ways.

The agent aborts a call with the code of the error's class and names the class in the
``rigbench-error`` trailer; the controller turns the call's failure back into that class.
Several classes share a code (a busy device and gRPC's own "message too large" are both
RESOURCE_EXHAUSTED), so the trailer decides; a failure without it (raised by gRPC itself, or
by a server that is not a rigbench agent) is the farm's: the agent unreachable, or refusing
the credentials.
"""

from __future__ import annotations

import grpc

from rigbench.agent.cache import ArtifactTooLargeError, DigestMismatchError
from rigbench.errors import (
    AgentCredentialsError,
    AgentError,
    AgentUnreachableError,
    ArtifactError,
    ArtifactMissingError,
    DeviceBusyError,
    DiskFullError,
    InputSpecError,
    JobNotFoundError,
    JobSpecError,
    ModelLoadError,
    NotHolderError,
    ProviderUnavailableError,
    RigbenchError,
    RuntimeUnavailableError,
)

ERROR_TRAILER = "rigbench-error"

Code = grpc.StatusCode

# Most specific first: an error takes the code of the first class it is an instance of.
WIRE_ERRORS: list[tuple[type[RigbenchError], grpc.StatusCode]] = [
    (DeviceBusyError, Code.RESOURCE_EXHAUSTED),
    (DiskFullError, Code.RESOURCE_EXHAUSTED),
    (ArtifactTooLargeError, Code.OUT_OF_RANGE),
    (DigestMismatchError, Code.DATA_LOSS),
    (ArtifactMissingError, Code.FAILED_PRECONDITION),
    (JobNotFoundError, Code.NOT_FOUND),
    (NotHolderError, Code.PERMISSION_DENIED),
    (ArtifactError, Code.FAILED_PRECONDITION),
    (JobSpecError, Code.INVALID_ARGUMENT),
    (InputSpecError, Code.INVALID_ARGUMENT),
    (ModelLoadError, Code.INVALID_ARGUMENT),
    (ProviderUnavailableError, Code.FAILED_PRECONDITION),
    (RuntimeUnavailableError, Code.FAILED_PRECONDITION),
    (AgentError, Code.INVALID_ARGUMENT),
    (RigbenchError, Code.INTERNAL),
]
_BY_NAME = {cls.__name__: cls for cls, _ in WIRE_ERRORS}


def status_for(e: BaseException) -> grpc.StatusCode:
    for cls, code in WIRE_ERRORS:
        if isinstance(e, cls):
            return code
    return Code.INTERNAL


def trailer_for(e: BaseException) -> tuple[tuple[str, str], ...]:
    """The trailing metadata naming the error's class in the table."""
    for cls, _ in WIRE_ERRORS:
        if isinstance(e, cls):
            return ((ERROR_TRAILER, cls.__name__),)
    return ((ERROR_TRAILER, RigbenchError.__name__),)


def error_from_status(
    code: grpc.StatusCode,
    detail: str,
    trailer: str | None,
    address: str,
    what: str,
) -> RigbenchError:
    """The error a failed call stands for, on the controller's side."""
    cls = _BY_NAME.get(trailer or "")
    if cls is not None:
        return cls(detail)
    if code == Code.UNAUTHENTICATED:
        return AgentCredentialsError(f"agent at {address} refused the credentials: {detail}")
    # Without our trailer the failure is gRPC's own (a connection reset mid-call arrives as
    # INTERNAL or UNKNOWN, a message over the limit as RESOURCE_EXHAUSTED) or a server that is
    # not a rigbench agent: the farm's, worth a retry, never a busy device or a rigbench bug.
    return AgentUnreachableError(
        f"agent at {address} unreachable during {what}: {code.name.lower()}: {detail}"
    )
