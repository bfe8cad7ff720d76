"""Who is calling: the client's address behind trusted reverse proxies (pure, no I/O).

Only a peer in ``http.trusted_proxies`` may speak for someone else, through ``X-Forwarded-For``.
The list is read from the right (each proxy appends the address it saw), trusted hops are
skipped and the first untrusted one is the client. A hop that is not an address stops the walk:
everything to its left could have been written by anyone. ``Forwarded`` (RFC 7239) is ignored:
a proxy that sets only one of the two headers would pass a client's forged copy of the other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from ..config import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# "[2001:db8::1]:443" or "192.0.2.1:443": some proxies write the client's port too.
_WITH_PORT = re.compile(r"\[(?P<v6>[^\]]+)\](?::\d{1,5})?|(?P<v4>[\d.]+):\d{1,5}")


def resolve_client_address(peer: str | None, forwarded_for: Iterable[str],
                           trusted_proxies: Sequence[IpNetwork]) -> str | None:
    """The client's address, given the socket peer and every ``X-Forwarded-For`` value."""
    peer_address = _parse(peer) if peer and trusted_proxies else None
    if peer_address is None or not _is_trusted(peer_address, trusted_proxies):
        return peer  # a direct client: whatever it says in the header is ignored
    client = peer_address
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        hop_address = _parse(hop)
        if hop_address is None:
            break
        client = hop_address
        if not _is_trusted(hop_address, trusted_proxies):
            break
    return str(client)


def _parse(text: str) -> IpAddress | None:
    text = text.strip()
    with_port = _WITH_PORT.fullmatch(text)
    if with_port:
        text = with_port["v6"] or with_port["v4"]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: one client, one address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IpAddress, trusted_proxies: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted_proxies)
