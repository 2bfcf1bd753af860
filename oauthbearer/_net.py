"""Hosts as the library's policies see them (pure): which one is this machine.

One rule for every layer that asks: the URL policy (plain http only to a
loopback address) and the broker emulator (unsecured tokens only on one).
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (without brackets) names this machine: ``localhost``
    (any case), an address in ``127.0.0.0/8``, or ``::1``."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
