"""Who the client is: the socket's peer, unless that peer is a proxy the operator named.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from
the addresses in ``SONGFORGE_TRUSTED_PROXIES`` (none by default). Otherwise any
client could write its own ``X-Forwarded-For`` and pass every per-address limit
by rotating it; uvicorn believes it from 127.0.0.1 by default, so the server is
told not to (``SERVER_OPTIONS``) and this module decides instead, whatever ASGI
server runs the app.
"""

from __future__ import annotations

import ipaddress
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# For uvicorn.run / uvicorn.Config: the app reads proxy headers itself.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


def parse_networks(spec: str) -> list[IpNetwork]:
    """``"10.0.0.1, 192.168.0.0/16"`` -> networks; ValueError names a bad entry."""
    networks: list[IpNetwork] = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"SONGFORGE_TRUSTED_PROXIES: {entry!r} is not an IP or a CIDR"
            ) from exc
    return networks


class TrustedProxies:
    def __init__(self, spec: str) -> None:
        self.networks = parse_networks(spec)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """The first address, walking X-Forwarded-For from the right (the nearest hop),
        that is not one of our proxies: everything left of it was written by the client."""
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_ip(hop) else peer
        return hops[0] if hops else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
