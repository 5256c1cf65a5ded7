"""SSH failures, as part of the one error tree.

Every failure that keeps the controller from reaching a device's agent derives from
``AgentUnreachableError`` as well, so a run marks that one device unreachable and goes on
with the others. ``HostKeyError`` and ``SshAuthError`` do too, but retrying them is
pointless: a refused host key or a rejected key stays refused until a person acts.
"""

from __future__ import annotations

from rigbench.errors import AgentUnreachableError, ControllerError


class SshError(ControllerError):
    """An SSH step failed: a command on the host, a file transfer, a tunnel."""


class SshUnreachableError(SshError, AgentUnreachableError):
    """The SSH server could not be reached, or the connection dropped."""


class SshAuthError(SshError, AgentUnreachableError):
    """The SSH server rejected our key (or we had none it would take)."""


class HostKeyError(SshError, AgentUnreachableError):
    """The host's key is unknown or differs from the recorded one: refused, never auto-accepted."""


class RemoteCommandError(SshError):
    """A command run on the host over SSH exited non-zero."""
