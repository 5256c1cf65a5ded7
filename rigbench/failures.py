"""Why a job failed, whose fault it was, and what to do about it: the one failure taxonomy.

Every failed job carries one ``FailureKind``. Each kind is declared once, here, with its blame
and its policy, and everything else reads them: the worker and the agent choose a kind, the
dispatcher retries or quarantines by it, ``nightly``, ``run`` and ``bench`` turn blame into an
exit code, and ``results``, ``rank`` and the reports say whose fault a failure was.

Blame answers the question a user asks first:

- ``model``: the model or its inputs (or the runtime cannot run this model). The user's to
  fix; the same job fails the same way anywhere, so it is never retried and never counts
  against a device.
- ``farm``: a device, its agent, the network, the disk. Worth a retry; a device that keeps
  failing this way is quarantined for the rest of the run.
- ``rigbench``: a bug in rigbench itself. Not retried (it would fail again) and not held
  against the device; the message says so and asks for a report.

This module has no dependencies: the agent (on a board) and the controller both import it.
"""

from __future__ import annotations

import re
from enum import Enum

# What reaches the user and the store of a runtime's own message: its words, trimmed.
MESSAGE_LIMIT = 2000
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


class Blame(str, Enum):
    MODEL = "model"
    FARM = "farm"
    RIGBENCH = "rigbench"

    @property
    def phrase(self) -> str:
        """How a report says it, after a failure kind."""
        return _BLAME_PHRASE[self]


_BLAME_PHRASE = {
    Blame.MODEL: "the model's own error",
    Blame.FARM: "a farm failure",
    Blame.RIGBENCH: "a bug in rigbench",
}


class FailureKind(str, Enum):
    """Each kind: its wire/store name, blame, whether a retry can help, whether it counts
    toward a device's quarantine, and what it means.
    """

    blame: Blame
    retry: bool
    strikes: bool
    meaning: str

    def __new__(
        cls, value: str, blame: Blame, retry: bool, strikes: bool, meaning: str
    ) -> FailureKind:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.blame = blame
        obj.retry = retry
        obj.strikes = strikes
        obj.meaning = meaning
        return obj

    # --- the model or its inputs ---------------------------------------------------------
    MODEL = ("model", Blame.MODEL, False, False, "the runtime cannot load the model file")
    INPUT = ("input", Blame.MODEL, False, False, "the inputs cannot be built for this model")
    RUNTIME = ("runtime", Blame.MODEL, False, False, "the runtime failed running the model")
    RUNTIME_CRASHED = (
        "runtime-crashed",
        Blame.MODEL,
        False,
        False,
        "the runtime crashed in native code running the model",
    )
    COMPILE = ("compile", Blame.MODEL, False, False, "the variant could not be compiled")
    # --- the farm ------------------------------------------------------------------------
    PROVIDER = (
        "provider",
        Blame.FARM,
        False,
        False,
        "the device lacks the runtime, execution provider or delegate the job asks for",
    )
    UNREACHABLE = ("unreachable", Blame.FARM, True, True, "the agent could not be reached")
    AGENT_RESTARTED = (
        "agent-restarted",
        Blame.FARM,
        True,
        True,
        "the agent stopped or lost the job while it ran",
    )
    WORKER_CRASHED = (
        "worker-crashed",
        Blame.FARM,
        True,
        True,
        "the job's worker process was killed (out of memory, or by someone)",
    )
    DISK_FULL = ("disk-full", Blame.FARM, True, True, "the agent's disk is full")
    ARTIFACT = (
        "artifact",
        Blame.FARM,
        True,
        True,
        "an artifact did not reach the agent intact",
    )
    BUSY = ("busy", Blame.FARM, False, True, "another controller held the device too long")
    CANCELLED = ("cancelled", Blame.FARM, False, False, "the job was cancelled on the agent")
    QUARANTINED = (
        "quarantined",
        Blame.FARM,
        False,
        False,
        "the device was quarantined after repeated farm failures",
    )
    # --- rigbench itself -----------------------------------------------------------------
    INTERNAL = ("internal", Blame.RIGBENCH, False, False, "a bug in rigbench")

    @classmethod
    def parse(cls, name: str | None) -> FailureKind:
        """The kind stored or sent under ``name``; an unknown name is rigbench's own fault
        (an agent and a controller that disagree on the taxonomy).
        """
        return next((k for k in cls if k.value == name), cls.INTERNAL)

    def describe(self) -> str:
        """``runtime (the model's own error)``: a kind as a user reads it."""
        return f"{self.value} ({self.blame.phrase})"


def trim_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message as it reaches the user and the store: the sender's own words, stripped of
    surrounding blank space and terminal colour codes, cut to ``limit`` characters.
    """
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= limit else text[: limit - 15].rstrip() + " ... (trimmed)"


def internal_message(text: str) -> str:
    """What an ``internal`` failure says: that it is rigbench's bug, and what happened."""
    return trim_message(f"rigbench bug (please report it): {text}")


# --- exit codes of run, bench and nightly ------------------------------------------------------
EXIT_OK = 0
EXIT_MODEL = 1  # a job failed for the model's own reasons (nightly: or a regression)
EXIT_FARM = 2  # the farm failed (or rigbench did): the run cannot clear anyone


def exit_code(kinds: list[FailureKind], farm_failed: bool = False) -> int:
    """0 all done; 1 a job failed for the model's own reasons; 2 the farm (or rigbench)
    failed, which wins: a partial run cannot clear anyone.
    """
    if farm_failed or any(k.blame is not Blame.MODEL for k in kinds):
        return EXIT_FARM
    return EXIT_MODEL if kinds else EXIT_OK


__all__ = [
    "EXIT_FARM",
    "EXIT_MODEL",
    "EXIT_OK",
    "Blame",
    "FailureKind",
    "exit_code",
    "internal_message",
    "trim_message",
]
