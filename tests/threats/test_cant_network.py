"""Network: profiles without network get an empty network namespace and only AF_UNIX sockets.

Seccomp refuses every other address family at socket() with EAFNOSUPPORT (what a kernel
without that family says); the network namespace (only a loopback that is down) and
Landlock's TCP rules are the layers behind it.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.client import AirlockClient
from gateway.profiles.loader import load_profiles, shipped_profiles_dir
from gateway.server import Gateway
from tests.threats.probe import SHIPPED_PROFILES, attack

pytestmark = [pytest.mark.anyio]


@pytest.mark.parametrize(
    ("family", "kind", "proto"),
    [
        ("AF_INET", "SOCK_STREAM", 0),
        ("AF_INET", "SOCK_DGRAM", 0),
        ("AF_INET6", "SOCK_STREAM", 0),
        ("AF_INET6", "SOCK_DGRAM", 0),
        ("AF_INET", "SOCK_RAW", socket.IPPROTO_ICMP),
        ("AF_PACKET", "SOCK_RAW", 0),
        ("AF_NETLINK", "SOCK_RAW", 0),
        ("AF_VSOCK", "SOCK_STREAM", 0),
        ("AF_ALG", "SOCK_SEQPACKET", 0),
    ],
)
async def test_cant_open_a_socket_beyond_af_unix(client: AirlockClient, family: str, kind: str, proto: int) -> None:
    attacked = await attack(client, "network", "open_socket", family=family, type=kind, proto=proto)
    assert attacked.value == "EAFNOSUPPORT"


#: Shipped profiles without network (``networked`` is attacked in test_cant_egress.py).
OFFLINE_PROFILES = [p for p in SHIPPED_PROFILES if load_profiles(shipped_profiles_dir())[p].network == "none"]


@pytest.mark.parametrize("profile", OFFLINE_PROFILES)
async def test_cant_open_a_socket_beyond_af_unix_under_any_shipped_profile(client: AirlockClient, profile: str) -> None:
    sockets = ["AF_INET/SOCK_STREAM", "AF_INET/SOCK_DGRAM", "AF_INET6/SOCK_STREAM", "AF_PACKET/SOCK_RAW"]
    sockets += ["AF_NETLINK/SOCK_RAW", "AF_VSOCK/SOCK_STREAM", "AF_ALG/SOCK_SEQPACKET"]
    attacked = await attack(
        client, "network", "open_sockets", profile=profile, sockets=[*sockets, "AF_UNIX/SOCK_STREAM"]
    )
    assert attacked.value == {**dict.fromkeys(sockets, "EAFNOSUPPORT"), "AF_UNIX/SOCK_STREAM": "created"}


async def test_cant_open_an_inet_socketpair(client: AirlockClient) -> None:
    attacked = await attack(client, "network", "open_socketpair", family="AF_INET", type="SOCK_STREAM")
    assert attacked.value == "EAFNOSUPPORT"


@pytest.mark.parametrize("host", ["example.com", "localhost"])
async def test_cant_resolve_names(client: AirlockClient, host: str) -> None:
    attacked = await attack(client, "network", "dns", host=host)
    # No resolv.conf, no hosts file and no inet socket to ask a resolver with.
    assert attacked.value == {"exception": "gaierror", "code": "EAI_AGAIN"}


async def test_cant_connect_to_the_gateways_own_port(client: AirlockClient, gateway: Gateway) -> None:
    attacked = await attack(client, "network", "connect_tcp", host="127.0.0.1", port=gateway.port)
    assert attacked.value == "EAFNOSUPPORT"
    assert (await attack(client, "exhaust", "benign")).value == "fine"


@pytest.fixture
def abstract_listener() -> Iterator[tuple[str, socket.socket]]:
    """A listening abstract unix socket of the host (the test process), and its name."""
    name = f"airlock-test-{secrets.token_hex(8)}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + name)
    server.listen(8)
    server.setblocking(False)
    with server:
        yield name, server


async def test_cant_connect_to_the_hosts_abstract_unix_socket(
    client: AirlockClient, abstract_listener: tuple[str, socket.socket]
) -> None:
    name, server = abstract_listener
    attacked = await attack(client, "network", "connect_unix", abstract=name)
    # Abstract names belong to a network namespace: the sandbox's has none of the host's.
    assert attacked.value == "ECONNREFUSED"
    with pytest.raises(BlockingIOError):
        server.accept()


async def test_cant_send_a_datagram_to_the_hosts_abstract_unix_socket(client: AirlockClient) -> None:
    name = f"airlock-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.setblocking(False)
        attacked = await attack(client, "network", "send_unix_datagram", abstract=name)
        assert attacked.value == "ECONNREFUSED"
        with pytest.raises(BlockingIOError):
            receiver.recv(64)


async def test_cant_connect_to_a_hosts_path_unix_socket(client: AirlockClient, tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(8)
        server.setblocking(False)
        attacked = await attack(client, "network", "connect_unix", path=str(path))
        # The host's filesystem is not there at all.
        assert attacked.value == "ENOENT"
        with pytest.raises(BlockingIOError):
            server.accept()


async def test_cant_see_any_interface_but_loopback(client: AirlockClient) -> None:
    attacked = await attack(client, "network", "interfaces")
    # if_nameindex needs a netlink socket, which is refused; /proc shows processes only.
    assert attacked.value == {"if_nameindex": "EAFNOSUPPORT", "/proc/net/dev": "ENOENT"}
