"""Who is really calling: the peer, or the client a trusted proxy forwarded for."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def networks(spec: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


def _trusted(ip: str | None, trusted: tuple[Network, ...]) -> bool:
    if not ip or not trusted:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str | None:
    """X-Forwarded-For is read only when the peer is a trusted proxy, right to left: the
    first address that is not itself a trusted proxy is the client (anything further left
    was written by the client and can be forged)."""
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from a proxy we trust: fall back to the proxy itself
    return hops[0] if hops else peer


def scheme(peer: str | None, own: str, forwarded_proto: str | None, trusted) -> str:  # type: ignore[no-untyped-def]
    if forwarded_proto and _trusted(peer, trusted):
        return forwarded_proto.split(",")[0].strip().lower()
    return own
