"""Is an address this machine's own? Shared by the agent (may it listen there without TLS?)
and the controller (may it talk plaintext to it?), without the agent's server behind it.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
