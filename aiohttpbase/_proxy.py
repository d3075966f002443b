"""Client addresses from proxy headers, believed only when a trusted proxy sent them.

``X-Forwarded-For: client, proxy1, proxy2`` lists every hop; each proxy appends the
address it received from.  Reading from the right and skipping the proxies we trust, the
first address left is the furthest one a trusted proxy vouches for -- a client cannot
spoof past that by sending its own ``X-Forwarded-For``.  ``Forwarded`` (RFC 7239) is read
the same way from its ``for=`` parameters.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["ProxyTrust"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyTrust:
    """Which peers may set the client address, and how to read what they say."""

    def __init__(self, allowed: str) -> None:
        self.any = False
        self.networks: list[Network] = []
        for item in (part.strip() for part in allowed.split(",")):
            if item == "*":
                self.any = True
            elif item:
                self.networks.append(ipaddress.ip_network(item, strict=False))

    def trusts(self, host: str) -> bool:
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: Any, headers: list[tuple[str, str]]) -> Any:
        """``peer``, or the client a trusted proxy forwarded for (port 0: unknown)."""
        if not self.trusts(peer[0]):
            return peer
        hops: list[str] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == "x-forwarded-for":
                hops.extend(hop.strip() for hop in value.split(","))
            elif lowered == "forwarded" and not hops:
                hops.extend(_forwarded_for(value))
        for hop in reversed(hops):
            if hop and not self.trusts(hop):
                return (hop, 0)
        return (hops[0], 0) if hops and hops[0] else peer


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` addresses of a ``Forwarded`` header, in order, without port or quotes."""
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, raw = pair.strip().partition("=")
            if key.lower() != "for":
                continue
            raw = raw.strip().strip('"')
            if raw.startswith("["):
                raw = raw[1 : raw.find("]")]  # [2001:db8::1]:4711
            elif raw.count(":") == 1:
                raw = raw.partition(":")[0]  # 192.0.2.60:4711
            found.append(raw)
    return found
