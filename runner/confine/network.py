"""The sandbox's loopback for egress: up, with literal addresses and listeners (runs in the sandbox, as PID 1).

Done by PID 1 before it drops its capabilities: configuring an interface needs
CAP_NET_ADMIN, and a port below 1024 (443, say) CAP_NET_BIND_SERVICE, both held only in
the sandbox's own user namespace and over its own, empty network namespace. Plain ioctls
suffice (no netlink: seccomp refuses netlink sockets later anyway). PID 2 inherits the
listening sockets and hands them to the forwarder (runner.forwarder); the plugin cannot
bind TCP ports itself (Landlock, no capabilities).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from typing import Any

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFADDR = 0x8916
SIOCSIFNETMASK = 0x891C
IFF_UP = 0x1
_IFREQ_FLAGS = struct.Struct("16sH14x")
_SOCKADDR_IN = struct.Struct("HH4s8x")
_IN6_IFREQ = struct.Struct("16sIi")
#: Connections the kernel queues per listener before the forwarder accepts them.
BACKLOG = 64


def _loopback_up(control: socket.socket) -> None:
    flags = _IFREQ_FLAGS.unpack(fcntl.ioctl(control, SIOCGIFFLAGS, _IFREQ_FLAGS.pack(b"lo", 0)))[1]
    fcntl.ioctl(control, SIOCSIFFLAGS, _IFREQ_FLAGS.pack(b"lo", flags | IFF_UP))


def _add_ipv4(control: socket.socket, label: str, address: str) -> None:
    # An alias label (lo:N) adds an address instead of replacing 127.0.0.1, as ifconfig did.
    name = struct.pack("16s", label.encode())
    fcntl.ioctl(control, SIOCSIFADDR, name + _SOCKADDR_IN.pack(socket.AF_INET, 0, socket.inet_aton(address)))
    fcntl.ioctl(control, SIOCSIFNETMASK, name + _SOCKADDR_IN.pack(socket.AF_INET, 0, b"\xff" * 4))


def _add_ipv6(address: str) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as control:
        request = _IN6_IFREQ.pack(socket.inet_pton(socket.AF_INET6, address), 128, socket.if_nametoindex("lo"))
        fcntl.ioctl(control, SIOCSIFADDR, request)


def bring_up(plan: dict[str, Any]) -> list[tuple[socket.socket, str]]:
    """Configure the loopback as ``plan`` says; the listening sockets and the entry each stands for."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        _loopback_up(control)
        for number, address in enumerate(plan["aliases"], start=1):
            if ipaddress.ip_address(address).version == 4:
                _add_ipv4(control, f"lo:{number}", address)
            else:
                _add_ipv6(address)
    listeners = []
    for listener in plan["listeners"]:
        family = socket.AF_INET6 if ":" in listener["address"] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((listener["address"], int(listener["port"])))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"egress listener {listener['entry']}: {exc.strerror}") from None
        listeners.append((sock, str(listener["entry"])))
    return listeners
