"""Who a client is on the network: its address, and the key its limits count under.

- ``client_address(peer, forwarded_for, trusted)``: the address a request came from.
  ``X-Forwarded-For`` is believed only when the peer is a trusted proxy; then the chain
  is read from the right and the first address that is not a trusted proxy is the
  client (what each trusted proxy appended is true, what came before it may be forged).
  A chain made only of trusted proxies yields its leftmost address.
- ``address_key(address)``: what per-address limits count under: an IPv4 address
  itself, an IPv6 address as its /64 (one subscriber gets a whole /64, so counting
  single IPv6 addresses would give one client 2**64 of them).

Pure: no I/O; anything unparseable is kept as it is (it still counts as one address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) from a comma-separated string or a list.

    Raises ``ValueError`` naming the first entry that is not one."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an address or CIDR: {item!r}") from exc
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(text: str, trusted: tuple[Network, ...]) -> bool:
    ip = _ip(text)
    return ip is not None and any(ip in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str:
    """The client's address (see the module docstring); ``"?"`` when there is none."""
    peer = (peer or "").strip() or "?"
    if not forwarded_for or not trusted or not _trusted(peer, trusted):
        return _canonical(peer)
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()][:64]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return _canonical(hop)
    return _canonical(hops[0]) if hops else _canonical(peer)


def _canonical(text: str) -> str:
    ip = _ip(text)
    return str(ip) if ip is not None else text[:64]


def address_key(address: str) -> str:
    """The key per-address limits count under: IPv4 as is, IPv6 as its /64."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip) if ip is not None else address[:64]
