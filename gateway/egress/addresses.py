"""Which resolved addresses a relay may connect to.

A name on the allow-list is resolved by the gateway, and DNS answers whatever its owner
likes: a public-looking name may resolve to 127.0.0.1, to the cloud metadata service at
169.254.169.254 or to an address on the gateway's private network. Every address that is
not a plain public unicast address is therefore refused, with the reason, unless the
entry is that very IP literal or the profile lists a network containing it
(``egress_allow_private``). IPv6 forms that embed an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4) are judged by the address they embed, so that
``::ffff:169.254.169.254`` is the metadata service too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from gateway.profiles.allowlist import IPAddress, IPNetwork

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def special_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address ("loopback", "private", ...), or None."""
    inner = embedded_ipv4(address)
    if inner is not None:
        kind = special_kind(inner)
        return f"ipv4_embedded_{kind}" if kind else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("reserved", address.is_reserved),  # before private: Python counts 240/4 as private too
        ("private", address.is_private),
        ("not_global", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def refusal(address: IPAddress, *, literal: IPAddress | None, allowed: Iterable[IPNetwork]) -> str | None:
    """Why a relay must not connect to ``address`` for an entry, or None when it may.

    ``literal`` is the entry's own IP literal (an operator who lists ``10.0.0.5:11434`` means
    that address); ``allowed`` are the profile's ``egress_allow_private`` networks.
    Unspecified and multicast addresses are never connectable, whatever is listed.
    """
    kind = special_kind(address)
    if kind is None:
        return None
    if address.is_unspecified or address.is_multicast:
        return kind
    if literal is not None and address == literal:
        return None
    if any(address.version == net.version and address in net for net in allowed):
        return None
    return kind
