"""
title: Egress
description: threat probe: network access under network = "egress"; body["attack"] picks the attack
"""

import errno
import os
import socket
import time

RELAY = "/run/airlock/relay.sock"
FAMILIES = {"AF_PACKET": 17, "AF_NETLINK": 16, "AF_VSOCK": 40, "AF_ALG": 38}


def sandbox_identity():
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def open_sockets(body):
    """ "FAMILY/TYPE/PROTO" -> what socket() said."""
    outcome = {}
    for spec in body["sockets"]:
        family, kind, proto = spec.split("/")
        try:
            sock = socket.socket(getattr(socket, family, None) or FAMILIES[family], getattr(socket, kind), int(proto))
        except OSError as exc:
            outcome[spec] = errname(exc)
        else:
            sock.close()
            outcome[spec] = "created"
    return outcome


def resolve(body):
    began = time.monotonic()
    try:
        addresses = sorted({info[4][0] for info in socket.getaddrinfo(body["host"], 80)})
        answer = {"addresses": addresses}
    except socket.gaierror as exc:
        names = [n for n in dir(socket) if n.startswith("EAI_") and getattr(socket, n) == exc.errno]
        answer = {"code": names[0] if names else exc.errno}
    answer["fast"] = time.monotonic() - began < 1.0
    return answer


def fetch(body):
    """Connect, send an HTTP request, read the answer to its end: the answer, or the errno.

    A connection the gateway refuses is reset: at connect() if the reset wins the race,
    else at the first read or write.
    """
    chunks = []
    try:
        with socket.create_connection((body["host"], body["port"]), timeout=5) as sock:
            sock.sendall(b"GET /stolen HTTP/1.0\r\n\r\n")
            while data := sock.recv(65536):
                chunks.append(data)
    except OSError as exc:
        return errname(exc)
    return b"".join(chunks).decode(errors="replace")


def udp(body):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"\x00" * 12, (body["host"], body["port"]))
        except OSError as exc:
            return errname(exc)
    return "sent"


def relay_request(sock, line):
    sock.sendall(line)
    reply = b""
    while not reply.endswith(b"\n"):
        data = sock.recv(64)
        if not data:
            break
        reply += data
    return reply.decode(errors="replace")


def forge(body):
    """Talk to the gateway's relay directly, naming whatever entry the attacker likes."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(RELAY)
        return relay_request(sock, body["line"].encode("latin-1"))
    except OSError as exc:
        return errname(exc)
    finally:
        sock.close()


def flood(body):
    """Hold relay connections open, one more than the profile allows: each one's answer."""
    held, answers = [], []
    for _ in range(body["count"]):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(RELAY)
        held.append(sock)
        time.sleep(body.get("pause", 0))  # a client slow to send its request line
        answers.append(relay_request(sock, (body["entry"] + "\n").encode()))
    for sock in held:
        sock.close()
    return answers


LEFT_OPEN = []


def leave_open(body):
    """Open an allowed connection, wait for the server's greeting, and keep it open."""
    sock = socket.create_connection((body["host"], body["port"]), timeout=5)
    greeting = b""
    while len(greeting) < 2:
        greeting += sock.recv(2 - len(greeting))
    LEFT_OPEN.append(sock)
    return "left open"


def write_relay_dir(body):
    try:
        with open("/run/airlock/planted", "w") as f:
            f.write("x")
    except OSError as exc:
        return errname(exc)
    return "written"


ATTACKS = {f.__name__: f for f in (open_sockets, resolve, fetch, udp, forge, flood, leave_open, write_relay_dir)}


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        return ATTACKS[body["attack"]](body)
