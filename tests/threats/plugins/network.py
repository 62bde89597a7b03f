"""
title: Network
description: threat probe: network access; body["attack"] picks the attack
"""

import errno
import os
import socket


# Address families Python may not name on every build: the kernel's numbers.
def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


FAMILIES = {"AF_PACKET": 17, "AF_NETLINK": 16, "AF_VSOCK": 40, "AF_ALG": 38}


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def family(name):
    return getattr(socket, name, None) or FAMILIES[name]


def open_socket(body):
    try:
        sock = socket.socket(family(body["family"]), getattr(socket, body["type"]), body.get("proto", 0))
    except OSError as exc:
        return errname(exc)
    sock.close()
    return "created"


def open_sockets(body):
    """Many sockets in one invocation: "FAMILY/TYPE" -> what socket() said."""
    outcome = {}
    for spec in body["sockets"]:
        family_name, type_name = spec.split("/")
        outcome[spec] = open_socket({"family": family_name, "type": type_name})
    return outcome


def open_socketpair(body):
    try:
        left, right = socket.socketpair(family(body["family"]), getattr(socket, body["type"]))
    except OSError as exc:
        return errname(exc)
    left.close()
    right.close()
    return "created"


def dns(body):
    try:
        return {"addresses": [info[4][0] for info in socket.getaddrinfo(body["host"], 443)]}
    except socket.gaierror as exc:
        names = [n for n in dir(socket) if n.startswith("EAI_") and getattr(socket, n) == exc.errno]
        return {"exception": type(exc).__name__, "code": names[0] if names else exc.errno}


def connect_tcp(body):
    try:
        with socket.create_connection((body["host"], body["port"]), timeout=2):
            return "connected"
    except OSError as exc:
        return errname(exc)


def connect_unix(body):
    address = body["path"] if "path" in body else "\0" + body["abstract"]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(address)
        sock.sendall(b"hello from the sandbox")
    except OSError as exc:
        return errname(exc)
    finally:
        sock.close()
    return "connected"


def send_unix_datagram(body):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"hello from the sandbox", "\0" + body["abstract"])
    except OSError as exc:
        return errname(exc)
    finally:
        sock.close()
    return "sent"


def interfaces(body):
    """The interfaces of the sandbox's network namespace, asked two ways."""
    try:
        by_netlink = [name for _, name in socket.if_nameindex()]
    except OSError as exc:
        by_netlink = errname(exc)
    try:
        with open("/proc/net/dev") as f:
            in_proc = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    except OSError as exc:
        in_proc = errname(exc)
    return {"if_nameindex": by_netlink, "/proc/net/dev": in_proc}


def hostname(body):
    return socket.gethostname()


ATTACKS = {
    f.__name__: f
    for f in (
        open_socket,
        open_sockets,
        open_socketpair,
        dns,
        connect_tcp,
        connect_unix,
        send_unix_datagram,
        interfaces,
        hostname,
    )
}


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        return ATTACKS[body["attack"]](body)
