"""The sandbox's side of egress, decided in the gateway: the ``egress`` part of the confine frame.

The sandbox only carries it out (runner.confine.network, runner.forwarder): which
addresses its loopback gets, where each allow-list entry listens, what its ``/etc/hosts``
and ``/etc/nsswitch.conf`` say, and where the relay's socket is mounted. Nothing in it is
a permission: the gateway checks every relayed connection again.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from gateway.profiles import Profile
from gateway.profiles.allowlist import LOCALHOST, parse_entries, sandbox_addresses

#: Where the relay's directory is mounted inside the sandbox, and the socket's name in it.
SANDBOX_RELAY_DIR = "/run/airlock"
RELAY_SOCKET = "relay.sock"
#: Name lookups read /etc/hosts and nothing else: no resolver is configured, so a name
#: that is not listed fails at once (EAI_NONAME) instead of waiting on a DNS timeout.
NSSWITCH = "hosts: files\nnetworks: files\n"


def hosts_file(profile: Profile) -> str:
    """The sandbox's /etc/hosts: localhost, then each listed name on its loopback address."""
    entries = parse_entries(profile.egress_allow)
    lines = {LOCALHOST: "127.0.0.1"}
    for entry, (address, _) in zip(entries, sandbox_addresses(entries), strict=True):
        if entry.literal is None:
            lines.setdefault(entry.host, address)
    return "".join(f"{address} {name}\n" for name, address in lines.items())


def sandbox_plan(profile: Profile, relay_dir: Path) -> dict[str, Any]:
    """The confine frame's ``egress`` value for a worker of ``profile``.

    ``relay_dir`` is the host directory holding the profile's relay socket; the worker
    mounts it read-only at SANDBOX_RELAY_DIR.
    """
    entries = parse_entries(profile.egress_allow)
    listeners = []
    aliases: list[str] = []
    for entry, (address, port) in zip(entries, sandbox_addresses(entries), strict=True):
        listeners.append({"entry": entry.text, "address": address, "port": port})
        ip = ipaddress.ip_address(address)
        # 127.0.0.0/8 and ::1 are the loopback's already; any other literal is added to it
        # so that a plugin connecting to that very address reaches the forwarder.
        if not ip.is_loopback and address not in aliases:
            aliases.append(address)
    return {
        "relay_dir": str(relay_dir),
        "relay_socket": f"{SANDBOX_RELAY_DIR}/{RELAY_SOCKET}",
        "listeners": listeners,
        "aliases": aliases,
        "files": {"/etc/hosts": hosts_file(profile), "/etc/nsswitch.conf": NSSWITCH},
        "max_connections": profile.egress_max_connections,
    }
