"""One gateway per data directory: a second one is refused at start, naming the holder.

Real gateways on one data directory, a real ``airlock serve`` refused, and a holder killed
with SIGKILL: the lock must go with its process, whatever the way it ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

import anyio
import pytest

from airlock.client import AirlockClient
from gateway.config import GatewayConfig
from gateway.datadir import LOCK_FILE, DataDirInUse
from gateway.egress.plan import RELAY_SOCKET
from gateway.server import Gateway
from tests.conftest import plugin_source, probed
from tests.integration.test_cli import AIRLOCK

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


# Each test owns its data directory (and the lock on it): a gateway per test.
@pytest.fixture
def gateway_config(private_config: GatewayConfig) -> GatewayConfig:
    return private_config


@pytest.fixture
def gateway(private_gateway: Gateway) -> Gateway:
    return private_gateway


@pytest.fixture
def client(private_client: AirlockClient) -> AirlockClient:
    return private_client


def in_use(config: GatewayConfig, pid: int) -> str:
    """The refusal's beginning, as a pattern: the directory and the holder's pid."""
    return re.escape(f"the data directory {config.data_dir} is in use by another gateway (pid {pid}")


async def test_a_second_gateway_on_the_same_data_dir_is_refused_and_the_first_keeps_working(
    gateway: Gateway, client: AirlockClient, gateway_config: GatewayConfig
) -> None:
    await client.put_function("emitter", plugin_source("emitter"))
    relay_dir = await gateway.egress.ensure(gateway.profiles["networked"])
    relay = relay_dir / RELAY_SOCKET
    before = relay.stat().st_ino

    with pytest.raises(DataDirInUse, match=in_use(gateway_config, os.getpid())):
        Gateway(gateway_config, host=probed())

    # What the second one would have taken over is untouched: the first one's relay socket
    # (still accepting) and its registry.
    assert relay.stat().st_ino == before
    _, writer = await asyncio.open_unix_connection(str(relay))
    writer.close()
    assert [f.id for f in await client.list_functions()] == ["emitter"]
    assert (gateway_config.data_dir / LOCK_FILE).read_text() == f"{os.getpid()}\n"


async def test_the_data_dir_is_free_again_once_its_gateway_stops(gateway_config: GatewayConfig) -> None:
    first = Gateway(gateway_config, host=probed())
    await first.start()
    async with AirlockClient(first.address) as c:
        await c.put_function("emitter", plugin_source("emitter"))
    await first.stop(0)
    second = Gateway(gateway_config, host=probed())
    await second.start()
    try:
        async with AirlockClient(second.address) as c:
            assert [f.id for f in await c.list_functions()] == ["emitter"]
    finally:
        await second.stop(0)


HOLD = """
import sys
from pathlib import Path
from gateway.datadir import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


async def test_a_killed_gateways_lock_goes_with_it(gateway_config: GatewayConfig) -> None:
    async with await anyio.open_process([sys.executable, "-c", HOLD, str(gateway_config.data_dir)]) as holder:
        try:
            assert holder.stdout is not None
            with anyio.fail_after(30):
                said = b""
                while not said.endswith(b"\n"):
                    said += await holder.stdout.receive()
                assert said == b"locked\n"
            with pytest.raises(DataDirInUse, match=in_use(gateway_config, holder.pid)):
                Gateway(gateway_config, host=probed())
        finally:
            holder.kill()  # SIGKILL: no chance to release anything itself
            await holder.wait()
    gateway = Gateway(gateway_config, host=probed())
    await gateway.start()
    await gateway.stop(0)


async def test_airlock_serve_on_a_data_dir_in_use_says_so_and_exits_2(
    gateway: Gateway, gateway_config: GatewayConfig
) -> None:
    with anyio.fail_after(30):
        done = await anyio.run_process(
            [
                *(AIRLOCK, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", ""),
                *("--data-dir", str(gateway_config.data_dir), "--profiles", str(gateway_config.profiles_dir)),
            ],
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert re.search(in_use(gateway_config, os.getpid()), stderr), stderr
    assert b"listening" not in done.stdout
