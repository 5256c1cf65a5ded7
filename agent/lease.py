"""Which controller holds this device, and until when.

A job carries its controller's lease. Another controller is refused until the lease lapses:
``ttl_s`` after the holder's last job ended (or until the holder releases it), so a dead
controller never locks a board. The agent caps every lease at ``max_s``.
"""

from __future__ import annotations

from rigbench.agent.clock import SYSTEM_CLOCK, Clock
from rigbench.errors import DeviceBusyError

DEFAULT_MAX_LEASE_S = 600.0  # longest lease a controller may ask for (agent --max-lease-s)


class Lease:
    def __init__(self, max_s: float = DEFAULT_MAX_LEASE_S, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_s = max_s
        self.holder = ""
        self._clock = clock
        self._until_ns = 0  # the holder keeps the device until then

    def ttl_s(self, asked_s: float) -> float:
        """The lease a job asked for, capped: no client may lock the device for long."""
        return min(asked_s, self.max_s)

    def claim(self, holder: str, ttl_s: float) -> None:
        """A job of ``holder`` starts; raises DeviceBusyError while another holds the device.

        A job without a holder takes the device and leaves it free for anyone after.
        """
        now = self._clock.now_ns()
        if self.holder and holder != self.holder and now < self._until_ns:
            raise DeviceBusyError(
                f"device leased by {self.holder} for another "
                f"{(self._until_ns - now) / 1e9:.0f} s (the lease lapses if its holder stops "
                "sending jobs)"
            )
        self.holder = holder
        self._until_ns = now + int(self.ttl_s(ttl_s) * 1e9) if holder else 0

    def renew(self, holder: str, ttl_s: float) -> None:
        """``holder``'s job ended: the lease runs ``ttl_s`` from now."""
        if holder and holder == self.holder:
            self._until_ns = self._clock.now_ns() + int(self.ttl_s(ttl_s) * 1e9)

    def release(self, holder: str) -> bool:
        """End ``holder``'s lease now (its run is over); False when it holds none."""
        if not holder or holder != self.holder:
            return False
        self.holder, self._until_ns = "", 0
        return True
