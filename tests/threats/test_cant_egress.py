"""Network under egress: only the allow-listed HOST:PORTs, through the gateway, and nothing else.

The profile under attack lists one host server by IP literal (reachable), the name
``localhost`` on another port (the gateway resolves it to loopback and must refuse it:
no ``egress_allow_private``), and the gateway's own gRPC port (refused whatever is
listed). Every destination that must stay unreachable is a real listening server, so a
broken layer would show up as a response. Each refusal is asserted where the plugin
sees it (errno, resolver code, relay answer) and, for the gateway's, as its metric.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from airlock.client import AirlockClient
from gateway.config import GatewayConfig
from gateway.server import Gateway
from tests.hello_server import free_port, hello_server
from tests.threats.probe import LANDLOCK_ABI, attack

pytestmark = [pytest.mark.anyio]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    """Three real servers on the host's loopback: allowed, listed by name, unlisted."""
    with hello_server() as allowed, hello_server() as named, hello_server() as unlisted:
        yield {"allowed": allowed, "named": named, "unlisted": unlisted}


@dataclass
class Holder:
    """A TCP server on the host's loopback that greets each connection and never closes it."""

    listener: socket.socket
    accepted: queue.Queue[socket.socket] = field(default_factory=queue.Queue)

    @property
    def port(self) -> int:
        port: int = self.listener.getsockname()[1]
        return port

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                connection.sendall(b"hi")
                self.accepted.put(connection)


@pytest.fixture(scope="module")
def holder() -> Iterator[Holder]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        server = Holder(listener)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        yield server
        # Wakes an accept() still waiting (Linux): most tests never connect to the holder.
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        thread.join()
        while not server.accepted.empty():
            server.accepted.get().close()


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, grpc_port: int) -> GatewayConfig:
    # A known port, so that the profile can list it before the gateway starts.
    return gateway_config.model_copy(update={"listen": f"127.0.0.1:{grpc_port}"})


@pytest.fixture(scope="module")
def profiles_dir(
    profiles_dir: Path, sandbox_mode: str, servers: dict[str, int], grpc_port: int, holder: Holder
) -> Path:
    allow = [f"127.0.0.1:{servers['allowed']}", f"localhost:{servers['named']}", f"127.0.0.1:{grpc_port}"]
    allow.append(f"127.0.0.1:{holder.port}")
    (profiles_dir / "egress.toml").write_text(
        f'mode = "{sandbox_mode}"\nnetwork = "egress"\negress_allow = {allow!r}\n'.replace("'", '"')
        + "egress_max_connections = 3\nwall_seconds = 20\nsession_seconds = 30\n"
    )
    return profiles_dir


def _verdicts(gateway: Gateway, verdict: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "airlock_egress_connections_total", {"profile": "egress", "verdict": verdict}
    )
    return value or 0.0


async def test_can_reach_the_allowed_host_port(client: AirlockClient, servers: dict[str, int]) -> None:
    # The baseline the refusals below are measured against.
    attacked = await attack(client, "egress", "fetch", profile="egress", host="127.0.0.1", port=servers["allowed"])
    assert attacked.value.startswith("HTTP/1.0 200 OK\r\n")
    assert attacked.value.endswith("hello /stolen")


async def test_cant_reach_an_unlisted_port_on_host_loopback(client: AirlockClient, servers: dict[str, int]) -> None:
    attacked = await attack(client, "egress", "fetch", profile="egress", host="127.0.0.1", port=servers["unlisted"])
    # Landlock (ABI >= 4) refuses connect() to a port no listener has; without it, nothing
    # listens there in the sandbox's own network namespace.
    assert attacked.value == ("EACCES" if LANDLOCK_ABI >= 4 else "ECONNREFUSED")


async def test_cant_reach_an_allowed_port_on_another_address(client: AirlockClient, servers: dict[str, int]) -> None:
    for host in ("127.0.0.9", "10.0.0.1", "169.254.169.254", "192.168.1.1"):
        attacked = await attack(client, "egress", "fetch", profile="egress", host=host, port=servers["allowed"])
        # Loopback addresses lead nowhere in the sandbox; the rest have no route at all.
        assert attacked.value == ("ECONNREFUSED" if host.startswith("127.") else "ENETUNREACH"), host


@pytest.mark.parametrize(("host", "port"), [("169.254.169.254", 80), ("10.0.0.1", 11434), ("8.8.8.8", 443)])
async def test_cant_reach_unlisted_addresses(client: AirlockClient, host: str, port: int) -> None:
    attacked = await attack(client, "egress", "fetch", profile="egress", host=host, port=port)
    assert attacked.value == ("EACCES" if LANDLOCK_ABI >= 4 else "ENETUNREACH")


async def test_cant_resolve_unlisted_names(client: AirlockClient) -> None:
    for host in ("example.com", "metadata.google.internal", "api.openai.com"):
        attacked = await attack(client, "egress", "resolve", profile="egress", host=host)
        # /etc/hosts knows only the listed names and nsswitch asks nothing else: an answer
        # at once, not a resolver timeout.
        assert attacked.value == {"code": "EAI_NONAME", "fast": True}, host
    listed = await attack(client, "egress", "resolve", profile="egress", host="localhost")
    assert listed.value == {"addresses": ["127.0.0.1"], "fast": True}


async def test_cant_reach_an_allowed_name_that_resolves_to_loopback(
    client: AirlockClient, gateway: Gateway, servers: dict[str, int]
) -> None:
    before = _verdicts(gateway, "forbidden_address")
    attacked = await attack(client, "egress", "fetch", profile="egress", host="localhost", port=servers["named"])
    # The forwarder accepted; the gateway resolved localhost to 127.0.0.1, which the profile
    # does not grant (no egress_allow_private), and the connection was reset. The server
    # behind it is real and listening: a wrong grant would have returned its answer.
    assert attacked.value == "ECONNRESET"
    assert _verdicts(gateway, "forbidden_address") == before + 1


async def test_cant_reach_the_gateways_own_port_even_when_listed(
    client: AirlockClient, gateway: Gateway, grpc_port: int
) -> None:
    assert gateway.port == grpc_port
    before = _verdicts(gateway, "gateway_port")
    attacked = await attack(client, "egress", "fetch", profile="egress", host="127.0.0.1", port=grpc_port)
    assert attacked.value == "ECONNRESET"
    assert _verdicts(gateway, "gateway_port") == before + 1
    forged = await attack(client, "egress", "forge", profile="egress", line=f"127.0.0.1:{grpc_port}\n")
    assert forged.value == "ERR gateway_port\n"


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("evil.example.com:443\n", "ERR not_listed\n"),
        ("169.254.169.254:80\n", "ERR not_listed\n"),
        ("10.0.0.1:11434\n", "ERR not_listed\n"),
        ("127.0.0.1:22\n", "ERR not_listed\n"),
        ("LOCALHOST:1\n", "ERR not_listed\n"),
        ("\xff\xfe:443\n", "ERR malformed\n"),
        ("x" * 400 + "\n", "ERR malformed\n"),
    ],
)
async def test_cant_forge_a_relay_request_for_an_unlisted_entry(
    client: AirlockClient, gateway: Gateway, line: str, answer: str
) -> None:
    attacked = await attack(client, "egress", "forge", profile="egress", line=line)
    assert attacked.value == answer
    assert _verdicts(gateway, answer.split()[1]) >= 1


@pytest.mark.parametrize("pause", [0, 0.3], ids=["at_once", "slow_to_ask"])
async def test_cant_hold_more_relay_connections_than_the_profile_allows(
    client: AirlockClient, gateway: Gateway, servers: dict[str, int], pause: float
) -> None:
    entry = f"127.0.0.1:{servers['allowed']}"
    before = _verdicts(gateway, "too_many_connections")
    # Slow to ask or not, the connection over the limit reads its refusal (never EPIPE).
    attacked = await attack(client, "egress", "flood", profile="egress", entry=entry, count=4, pause=pause)
    assert attacked.value == ["OK\n", "OK\n", "OK\n", "ERR too_many_connections\n"]
    assert _verdicts(gateway, "too_many_connections") == before + 1


async def test_cant_open_raw_packet_netlink_or_exotic_sockets_under_egress(client: AirlockClient) -> None:
    refused = {
        "AF_INET/SOCK_RAW/1": "EPERM",  # ICMP raw
        "AF_INET/SOCK_RAW/255": "EPERM",
        "AF_INET6/SOCK_RAW/58": "EPERM",
        "AF_INET/SOCK_DGRAM/1": "EPERM",  # ICMP "ping" sockets
        "AF_INET/SOCK_STREAM/132": "EPERM",  # SCTP
        "AF_INET/SOCK_SEQPACKET/132": "EPERM",
        "AF_INET/SOCK_STREAM/262": "EPERM",  # MPTCP
        "AF_INET/SOCK_DGRAM/136": "EPERM",  # UDP-Lite
        "AF_PACKET/SOCK_RAW/0": "EAFNOSUPPORT",
        "AF_NETLINK/SOCK_RAW/0": "EAFNOSUPPORT",
        "AF_VSOCK/SOCK_STREAM/0": "EAFNOSUPPORT",
        "AF_ALG/SOCK_SEQPACKET/0": "EAFNOSUPPORT",
    }
    allowed = ["AF_INET/SOCK_STREAM/0", "AF_INET/SOCK_STREAM/6", "AF_INET6/SOCK_STREAM/0", "AF_INET/SOCK_DGRAM/17"]
    attacked = await attack(client, "egress", "open_sockets", profile="egress", sockets=[*refused, *allowed])
    assert attacked.value == {**refused, **dict.fromkeys(allowed, "created")}


@pytest.mark.parametrize(("host", "port"), [("8.8.8.8", 53), ("169.254.169.254", 80), ("10.0.0.1", 53)])
async def test_cant_send_udp_anywhere_outside(client: AirlockClient, host: str, port: int) -> None:
    attacked = await attack(client, "egress", "udp", profile="egress", host=host, port=port)
    # The sandbox's network namespace has a loopback and no route.
    assert attacked.value == "ENETUNREACH"


async def test_cant_keep_a_relayed_connection_after_the_sandbox_ends(client: AirlockClient, holder: Holder) -> None:
    attacked = await attack(client, "egress", "leave_open", profile="egress", host="127.0.0.1", port=holder.port)
    assert attacked.value == "left open"  # after the server's greeting: connected end to end
    # On a thread, as below: the gateway's relay runs on this test's event loop.
    with await anyio.to_thread.run_sync(holder.accepted.get, True, 10) as accepted:
        accepted.settimeout(10)
        # The sandbox ended, and so did the gateway's side of its connection (no timeout).
        # On a thread: the gateway's relay runs on this test's event loop.
        assert await anyio.to_thread.run_sync(accepted.recv, 64) == b""


async def test_cant_write_into_the_relay_directory(client: AirlockClient) -> None:
    attacked = await attack(client, "egress", "write_relay_dir", profile="egress")
    assert attacked.value == "EROFS"


@pytest.mark.parametrize("profile", ["default", "fast"])
async def test_profiles_without_egress_have_no_relay_and_no_inet_sockets(client: AirlockClient, profile: str) -> None:
    relay = await attack(client, "egress", "forge", profile=profile, line="127.0.0.1:1\n")
    assert relay.value == "ENOENT"
    sockets = await attack(client, "egress", "open_sockets", profile=profile, sockets=["AF_INET/SOCK_STREAM/0"])
    assert sockets.value == {"AF_INET/SOCK_STREAM/0": "EAFNOSUPPORT"}
    resolved = await attack(client, "egress", "resolve", profile=profile, host="localhost")
    assert resolved.value == {"code": "EAI_AGAIN", "fast": True}
