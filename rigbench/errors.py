"""One error tree for the whole project.

Every error a user can meet is a `RigbenchError` subclass with a message that says what to do.
The agent's gRPC edge maps these to status codes and back (``rigbench.agent.status``), and the
CLI maps them to exit codes, each in one place; vendor exceptions are wrapped with
``raise ... from e`` so the cause survives. Each class names the failure kind a job that meets
it ends with (``rigbench.failures``); a class that names none is filed as rigbench's own bug.
"""

from __future__ import annotations

import errno
from typing import ClassVar

from rigbench.failures import FailureKind


class RigbenchError(Exception):
    """Base of every error rigbench raises on purpose."""

    failure_kind: ClassVar[FailureKind] = FailureKind.INTERNAL


# --- agent side -------------------------------------------------------------------------------
class AgentError(RigbenchError):
    """The agent could not do what was asked."""


class ArtifactError(AgentError):
    """An artifact is missing, corrupt, too large or does not match its digest."""

    failure_kind = FailureKind.ARTIFACT


class DeviceBusyError(AgentError):
    """The device is measuring another job; one job at a time."""

    failure_kind = FailureKind.BUSY


class ArtifactMissingError(ArtifactError):
    """The agent does not have an artifact a job needs (evicted, or never uploaded)."""


class DiskFullError(AgentError):
    """The agent's disk filled up while it stored an upload, a job's files or its spool."""

    failure_kind = FailureKind.DISK_FULL


def is_disk_full(e: BaseException) -> bool:
    """An OSError that says the filesystem (or the user's quota on it) is full."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


class JobSpecError(AgentError):
    """A job asks for something no run can do: a missing digest, a non-finite duration, a
    number beyond a limit of ``rigbench.limits`` (iterations, durations, threads, shapes).
    """

    failure_kind = FailureKind.INPUT


class NotHolderError(AgentError):
    """Only the controller holding a job (or an explicit admin) may cancel it."""

    failure_kind = FailureKind.BUSY


class JobNotFoundError(AgentError):
    """No job with that id is running or spooled on this agent."""

    failure_kind = FailureKind.AGENT_RESTARTED


class RuntimeAdapterError(AgentError):
    """A runtime (onnxruntime, LiteRT) could not load or run a model."""

    failure_kind = FailureKind.RUNTIME


class ModelRunError(RuntimeAdapterError):
    """The runtime loaded the model but failed running it (the runtime's own words follow)."""

    failure_kind = FailureKind.RUNTIME


class ModelLoadError(RuntimeAdapterError):
    """The model file is corrupt, truncated or not of the expected format."""

    failure_kind = FailureKind.MODEL


class InputSpecError(RuntimeAdapterError):
    """Inputs could not be built: unknown input, wrong rank or dtype, unresolved dynamic dim."""

    failure_kind = FailureKind.INPUT


class ProviderUnavailableError(RuntimeAdapterError):
    """A requested execution provider or delegate is not available on this device."""

    failure_kind = FailureKind.PROVIDER


class RuntimeUnavailableError(RuntimeAdapterError):
    """The runtime itself is not installed on this device."""

    failure_kind = FailureKind.PROVIDER


class TelemetryError(AgentError):
    """A sensor could not be read, or returned something that is not a reading."""


# --- controller side --------------------------------------------------------------------------
class ControllerError(RigbenchError):
    """The controller could not do what was asked."""


class ConfigError(ControllerError):
    """An inventory or plan file is malformed; the message names file, line and field."""

    failure_kind = FailureKind.INPUT


class UsageError(ControllerError):
    """A command-line option is malformed or out of bounds; the message names the option."""

    failure_kind = FailureKind.INPUT


class InventoryError(ConfigError):
    """The inventory is malformed or names something that does not exist."""


class PlanError(ConfigError):
    """The plan is malformed or names an unknown device, model or variant."""


class AgentUnreachableError(ControllerError):
    """The agent of a device could not be reached or did not become healthy."""

    failure_kind = FailureKind.UNREACHABLE


class AgentCredentialsError(AgentUnreachableError):
    """The agent answered but refused this controller's token or certificate."""


class ProtocolMismatchError(ControllerError):
    """The agent speaks a protocol version this controller does not."""


class AgentSettingsError(ControllerError):
    """The agent runs with other settings (its sensors) than the device's inventory entry."""


class StoreError(ControllerError):
    """The DuckDB store could not be opened, migrated, read or written."""


class VariantError(ControllerError):
    """A model variant could not be compiled."""

    failure_kind = FailureKind.COMPILE


class DatasetError(ConfigError):
    """A model's dataset (a folder of arrays or images, its labels, its metric) is unusable."""


class AccuracyError(ControllerError):
    """Outputs cannot be compared (names, shapes, counts differ) or a tolerance is malformed."""


class ReportError(ControllerError):
    """A report could not be built from the store."""
