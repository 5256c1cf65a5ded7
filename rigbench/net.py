"""Addresses: whether one stays on this machine.

The agent refuses to listen beyond loopback without TLS and a token, and the controller
refuses plaintext gRPC beyond loopback: both ask the same question here.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1); a name is never resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
