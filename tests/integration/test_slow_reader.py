"""A host that reads slowly does not spend the plugin's wall clock (session_seconds still bounds it).

When the host reads more slowly than the plugin emits, the outbox fills and the plugin's
channel writes block: that is the host's time, like waiting for a call's answer, and the
clock pauses for it. The plugin cannot turn it into free running time: session_seconds
still ends the invocation, and CPU time is limited by cpu_seconds whatever the clock says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Event, Outcome, Result
from gateway.config import GatewayConfig
from tests.conftest import probed, running_gateway
from tests.helpers import check

pytestmark = pytest.mark.anyio

#: A wall clock far shorter than the host takes to read what the plugin emits at once.
FLOOD_PROFILE = """
description = "tests: emits fast, a short wall clock"
wall_seconds = 1
session_seconds = 6
max_events = 10000
max_events_per_second = 100000
output_bytes = 33554432
"""

#: Emits ``count`` status events of ``size`` characters as fast as it can.
FLOOD = '''
"""
title: Flood
"""


class Action:
    async def action(self, body, __event_emitter__):
        for i in range(body["count"]):
            await __event_emitter__({"type": "status", "data": {"i": i, "pad": "x" * body["size"]}})
        return body["count"]
'''
#: Enough to fill the outbox (256 messages) and every HTTP/2 window on the way to the host.
COUNT, SIZE = 4000, 4096
#: Small windows and no bandwidth probing: the host's transport buffers little it has not read.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16 * 1024)]


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path) -> Path:
    (profiles_dir / "flood.toml").write_text(FLOOD_PROFILE)
    return profiles_dir


@pytest.fixture(scope="module")
async def gateway_address(gateway_config: GatewayConfig) -> AsyncIterator[str]:
    async with running_gateway(gateway_config, probed()) as gw:
        async with AirlockClient(gw.address) as admin:
            await admin.put_function("flood", FLOOD, profile="flood")
        yield gw.address


async def read_slowly(address: str, body: dict[str, Any], pause: float, every: int) -> list[Any]:
    """Run ``flood``, sleeping ``pause`` seconds after every ``every`` messages read."""
    async with AirlockClient(address, options=SMALL_WINDOW) as client, client.invoke("flood", body=body) as stream:
        received = []
        async for message in stream:
            received.append(message)
            if len(received) % every == 0:
                await anyio.sleep(pause)
        return received


async def test_a_slow_reader_does_not_turn_into_the_plugins_timeout(gateway_address: str) -> None:
    # 40 pauses of 0.1 s: about 4 s of reading for a plugin whose wall clock is 1 s.
    received = await read_slowly(gateway_address, {"count": COUNT, "size": SIZE}, pause=0.1, every=COUNT // 40)
    drained = check(received)
    assert drained.result.outcome is Outcome.OK, drained.result
    assert drained.result.value == COUNT
    assert len(drained.events) == COUNT
    assert drained.result.usage.wall_ms > 2000  # the host really was slow


async def test_session_seconds_still_ends_a_plugin_the_host_cannot_keep_up_with(gateway_address: str) -> None:
    # A reader slower than session_seconds (6 s): the plugin still ends, as TIMEOUT (session).
    received = await read_slowly(gateway_address, {"count": 10000, "size": SIZE}, pause=0.5, every=200)
    result = received[-1]
    assert isinstance(result, Result)
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "the invocation exceeded session_seconds=6"
    assert all(isinstance(m, Event) for m in received[1:-1])
