"""Network egress: plugins reach an allow-listed server on the host, unchanged, through the relay.

A real HTTP server on the host's 127.0.0.1:<random port>; profiles that allow exactly that
port, by IP literal or by the name ``localhost``; plugins using urllib, a raw socket,
asyncio, requests, httpx and aiohttp, in forked (warm) and spawned (fresh) sandboxes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airlock.client import AirlockClient, Outcome
from gateway.egress.plan import RELAY_SOCKET
from gateway.profiles import Profile
from gateway.server import Gateway
from tests.hello_server import hello_server
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def host_server() -> Iterator[int]:
    """An HTTP server on the host's loopback; yields its port."""
    with hello_server() as port:
        yield port


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path, host_server: int) -> Path:
    for mode in ("warm", "fresh"):
        (profiles_dir / f"egress_{mode}.toml").write_text(
            f'mode = "{mode}"\nnetwork = "egress"\negress_allow = ["127.0.0.1:{host_server}"]\n'
        )
    # A name: the gateway resolves localhost itself, to a loopback address it grants only
    # because the profile lists that network.
    (profiles_dir / "egress_named.toml").write_text(
        f'network = "egress"\negress_allow = ["localhost:{host_server}"]\negress_allow_private = ["127.0.0.1/32"]\n'
    )
    return profiles_dir


def _body(client: str, host: str, port: int, path: str) -> dict[str, Any]:
    url = f"http://{host}:{port}{path}"
    return {"client": client, "library": client, "url": url, "host": host, "port": port, "path": path}


async def _fetch(client: AirlockClient, profile: str, body: dict[str, Any]) -> Any:
    fid = await register(client, "egress_client", f"egress_client_{profile}", profile=profile)
    drained = await drain(client, fid, body=body)
    assert drained.result.outcome is Outcome.OK, drained.result
    return drained.result.value


@pytest.mark.parametrize("mode", ["warm", "fresh"])
@pytest.mark.parametrize("library", ["urllib", "socket", "asyncio", "requests", "httpx", "aiohttp"])
async def test_plugins_reach_an_allowed_host_port_unchanged(
    client: AirlockClient, gateway: Gateway, host_server: int, mode: str, library: str
) -> None:
    samples = gateway.metrics.registry
    labels = {"profile": f"egress_{mode}"}

    def counted() -> tuple[float, float, float]:
        return (
            samples.get_sample_value("airlock_egress_connections_total", {**labels, "verdict": "allowed"}) or 0.0,
            samples.get_sample_value("airlock_egress_bytes_total", {**labels, "direction": "out"}) or 0.0,
            samples.get_sample_value("airlock_egress_bytes_total", {**labels, "direction": "in"}) or 0.0,
        )

    connections, sent, received = counted()
    value = await _fetch(client, f"egress_{mode}", _body(library, "127.0.0.1", host_server, f"/{library}"))
    assert value == {"status": 200, "body": f"hello /{library}"}
    after = counted()
    assert after[0] == pytest.approx(connections + 1)
    assert after[1] - sent > len("GET / HTTP/1.0\r\n")
    assert after[2] - received > len(f"hello /{library}")


@pytest.mark.parametrize("library", ["socket", "urllib", "aiohttp"])
async def test_a_listed_name_resolves_through_the_sandboxs_hosts_file(
    client: AirlockClient, host_server: int, library: str
) -> None:
    value = await _fetch(client, "egress_named", _body(library, "localhost", host_server, "/by-name"))
    assert value == {"status": 200, "body": "hello /by-name"}


async def test_the_gateway_serves_the_relay_of_a_profile_built_in_code(gateway: Gateway, host_server: int) -> None:
    # What the requirements installer will do: a Profile instance, never written to a file.
    profile = Profile(name="built", network="egress", egress_allow=(f"127.0.0.1:{host_server}",))
    directory = await gateway.egress.ensure(profile)
    assert directory.parent == gateway.config.data_dir / "egress"
    assert oct(directory.stat().st_mode & 0o777) == oct(0o711)
    assert oct((directory.parent.stat().st_mode) & 0o777) == oct(0o700)
    assert await gateway.egress.ensure(profile) == directory  # one relay per profile
    reader, writer = await asyncio.open_unix_connection(str(directory / RELAY_SOCKET))
    try:
        writer.write(f"127.0.0.1:{host_server}\nGET /direct HTTP/1.0\r\n\r\n".encode())
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert reply.startswith(b"OK\nHTTP/1.0 200 OK\r\n")
    assert reply.endswith(b"hello /direct")
