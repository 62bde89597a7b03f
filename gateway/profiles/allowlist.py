"""Allow-list entries (``host:port``) of an egress profile: parsing, validation, sandbox addresses.

Pure functions, used by the profile model (to validate a file) and by gateway.egress (to
plan a sandbox and to check a relay request); they live with the profiles, the lower layer
of the two, so that loading a profile never reaches into the relay's package. An entry names a host by DNS name, IPv4
literal or bracketed IPv6 literal; names are lower-cased, literals normalised, so that
an entry has exactly one spelling and the relay can compare requests by string.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Entries one profile may list: each holds a listening socket in every sandbox.
MAX_ENTRIES = 64
#: Longest entry the relay reads from a sandbox (a 253-character name, ':' and a port).
MAX_ENTRY_CHARS = 260
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
#: Names of the sandbox's own loopback; they resolve to 127.0.0.1 inside the sandbox.
LOCALHOST = "localhost"
#: Hostnames get sandbox addresses from 127.0.0.2 upward (127.0.0.1 is localhost).
_FIRST_NAME_ADDRESS = ipaddress.IPv4Address("127.0.0.2")


class EntryError(ValueError):
    """An allow-list entry or network is malformed; the message names it."""


@dataclass(frozen=True)
class Entry:
    """One allowed destination: a name or an IP literal, and a TCP port."""

    host: str
    port: int
    #: The host as an address when the entry is an IP literal, else None (a DNS name).
    literal: IPAddress | None

    @property
    def text(self) -> str:
        """The canonical spelling: what the forwarder names in a relay request."""
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        return f"{host}:{self.port}"


def _host(raw: str, entry: str) -> tuple[str, IPAddress | None]:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise EntryError(f"{entry!r}: an IPv6 literal is written in brackets, e.g. [2001:db8::1]:443")
        try:
            v6 = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise EntryError(f"{entry!r}: {raw[1:-1]!r} is not an IPv6 address") from None
        if v6.ipv4_mapped is not None or v6.scope_id:
            raise EntryError(f"{entry!r}: write the IPv4 address itself, without a scope or ::ffff: prefix")
        return str(v6), v6
    try:
        v4 = ipaddress.IPv4Address(raw)
    except ValueError:
        pass
    else:
        return str(v4), v4
    name = raw.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise EntryError(f"{entry!r}: {raw!r} is neither an IP address nor a valid host name")
    if labels[-1].isdigit():
        # "10.1", "0x7f.1": libc would read these as addresses, not names.
        raise EntryError(f"{entry!r}: {raw!r} looks like an abbreviated IP address; write all four parts")
    return name, None


def parse_entry(entry: str) -> Entry:
    """Parse ``host:port``; EntryError says what is wrong with it."""
    if not isinstance(entry, str) or len(entry) > MAX_ENTRY_CHARS:
        raise EntryError(f"{str(entry)[:40]!r}: an entry is HOST:PORT, at most {MAX_ENTRY_CHARS} characters")
    host, sep, port = entry.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit():
        raise EntryError(f"{entry!r}: an entry is HOST:PORT (a name, an IPv4 address or [IPv6]) and a port")
    number = int(port)
    if not 1 <= number <= 65535:
        raise EntryError(f"{entry!r}: the port must be 1 to 65535")
    name, literal = _host(host, entry)
    if literal is not None and (literal.is_unspecified or literal.is_multicast):
        raise EntryError(f"{entry!r}: an unspecified or multicast address cannot be connected to")
    return Entry(name, number, literal)


def parse_entries(entries: tuple[str, ...]) -> tuple[Entry, ...]:
    """Parse every entry; duplicates, too many entries or sandbox address clashes are errors."""
    if len(entries) > MAX_ENTRIES:
        raise EntryError(f"at most {MAX_ENTRIES} entries (each is a listening socket in every sandbox)")
    parsed = tuple(parse_entry(e) for e in entries)
    seen: dict[tuple[str, int], str] = {}
    for entry, (address, port) in zip(parsed, sandbox_addresses(parsed), strict=True):
        if (address, port) in seen:
            raise EntryError(
                f"{entry.text!r} and {seen[address, port]!r} would both listen on {address} port {port} "
                "in the sandbox; list one of them"
            )
        seen[address, port] = entry.text
    return parsed


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR of ``egress_allow_private``; a host address is a /32 or /128."""
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise EntryError(f"{text!r}: not a network in CIDR notation ({exc})") from None
    if network.prefixlen == 0:
        raise EntryError(f"{text!r}: would allow every address; list the networks you mean")
    return network


def sandbox_addresses(entries: tuple[Entry, ...]) -> list[tuple[str, int]]:
    """Where each entry listens inside the sandbox: (address, port), in entry order.

    An IP literal listens on itself (plugins connect to the address they were given);
    ``localhost`` on 127.0.0.1; every other name on its own loopback address from
    127.0.0.2 upward (the same one for all ports of a name), skipping literals.
    """
    taken = {str(e.literal) for e in entries if e.literal is not None}
    names: dict[str, str] = {LOCALHOST: "127.0.0.1"}
    candidate = _FIRST_NAME_ADDRESS
    placed = []
    for entry in entries:
        if entry.literal is not None:
            placed.append((str(entry.literal), entry.port))
            continue
        if entry.host not in names:
            while str(candidate) in taken:
                candidate += 1
            names[entry.host] = str(candidate)
            candidate += 1
        placed.append((names[entry.host], entry.port))
    return placed
