"""One error tree for the whole project.

Every error a user can meet is a `RigbenchError` subclass with a message that says what to do.
The agent's gRPC servicer maps these to status codes, and the CLI maps them to exit codes, each
in one place; vendor exceptions are wrapped with ``raise ... from e`` so the cause survives.
"""

from __future__ import annotations


class RigbenchError(Exception):
    """Base of every error rigbench raises on purpose."""


# --- agent side -------------------------------------------------------------------------------
class AgentError(RigbenchError):
    """The agent could not do what was asked."""


class ArtifactError(AgentError):
    """An artifact is missing, corrupt, too large or does not match its digest."""


class DeviceBusyError(AgentError):
    """The device is measuring another job; one job at a time."""


class JobNotFoundError(AgentError):
    """No job with that id is running or spooled on this agent."""


class RuntimeAdapterError(AgentError):
    """A runtime (onnxruntime, LiteRT) could not load or run a model."""


class ModelLoadError(RuntimeAdapterError):
    """The model file is corrupt, truncated or not of the expected format."""


class InputSpecError(RuntimeAdapterError):
    """Inputs could not be built: unknown input, wrong rank or dtype, unresolved dynamic dim."""


class ProviderUnavailableError(RuntimeAdapterError):
    """A requested execution provider or delegate is not available on this device."""


class RuntimeUnavailableError(RuntimeAdapterError):
    """The runtime itself is not installed on this device."""


class TelemetryError(AgentError):
    """A sensor could not be read, or returned something that is not a reading."""


# --- controller side --------------------------------------------------------------------------
class ControllerError(RigbenchError):
    """The controller could not do what was asked."""


class ConfigError(ControllerError):
    """An inventory or plan file is malformed; the message names file, line and field."""


class InventoryError(ConfigError):
    """The inventory is malformed or names something that does not exist."""


class PlanError(ConfigError):
    """The plan is malformed or names an unknown device, model or variant."""


class AgentUnreachableError(ControllerError):
    """The agent of a device could not be reached or did not become healthy."""


class AgentCredentialsError(AgentUnreachableError):
    """The agent answered but refused this controller's token or certificate."""


class ProtocolMismatchError(ControllerError):
    """The agent speaks a protocol version this controller does not."""


class StoreError(ControllerError):
    """The DuckDB store could not be opened, migrated, read or written."""


class VariantError(ControllerError):
    """A model variant could not be compiled."""


class DatasetError(ConfigError):
    """A model's dataset (a folder of arrays or images, its labels, its metric) is unusable."""


class AccuracyError(ControllerError):
    """Outputs cannot be compared (names, shapes, counts differ) or a tolerance is malformed."""


class ReportError(ControllerError):
    """A report could not be built from the store."""
