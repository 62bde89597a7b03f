"""Messages to the host larger than max_message_bytes end the invocation as OUTPUT_LIMIT.

A profile's frame_bytes may be larger than the gateway's max_message_bytes (they are set
apart: one by the operator of each profile, one for the gateway). gRPC would end the whole
stream with RESOURCE_EXHAUSTED on such a message, and the host would get no Result; the
gateway measures each message first, so the stream always ends with exactly one Result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from gateway.invocation.outbox import max_merged_chars
from tests.conftest import probed, running_gateway
from tests.helpers import drain

pytestmark = pytest.mark.anyio

LIMIT = 256 * 1024

#: Emits one event of ``n`` characters (and one small one before it), returns ``ret`` characters.
SIZED = '''
"""
title: Sized
"""


class Action:
    async def action(self, body, __event_emitter__):
        await __event_emitter__({"type": "status", "data": "before"})
        for i in range(body.get("small", 0)):
            await __event_emitter__({"type": "status", "data": i})
        if body.get("n"):
            await __event_emitter__({"type": "status", "data": "x" * body["n"]})
            if body.get("after", True):
                await __event_emitter__({"type": "status", "data": "after"})
        return "y" * body.get("ret", 1)
'''


@pytest.fixture(scope="module")
async def client(gateway_config: GatewayConfig) -> AsyncIterator[AirlockClient]:
    # The default profile's frame_bytes (1 MiB) is four times this gateway's message limit.
    limited = gateway_config.model_copy(update={"max_message_bytes": LIMIT})
    async with running_gateway(limited, probed()) as gw, AirlockClient(gw.address) as c:
        await c.put_function("sized", SIZED)
        yield c


def largest_fitting(message: pb.InvokeResponse, field: str) -> int:
    """How many characters of a JSON string ``field`` may hold with the message within LIMIT."""
    kind = message.WhichOneof("msg")
    assert kind is not None
    inner = getattr(message, kind)
    n = LIMIT
    while True:
        setattr(inner, field, b'"' + b"x" * n + b'"')
        if message.ByteSize() <= LIMIT:
            return n
        n -= 1


async def test_an_event_just_within_max_message_bytes_is_delivered(client: AirlockClient) -> None:
    n = largest_fitting(pb.InvokeResponse(event=pb.Event(seq=2, type="status")), "data_json")
    drained = await drain(client, "sized", body={"n": n})
    assert drained.result.outcome is Outcome.OK, drained.result
    assert [len(e.data) for e in drained.events] == [len("before"), n, len("after")]


@pytest.mark.parametrize(
    ("small", "after"), [(0, True), (0, False), (150, False)], ids=["then_more", "then_returns", "queued_then_returns"]
)
async def test_an_event_just_over_max_message_bytes_is_output_limit_with_one_result(
    client: AirlockClient, small: int, after: bool
) -> None:
    # *_returns: the plugin may have returned (OK) before the outbox reaches the big event;
    # with 150 small events queued ahead of it, it has.
    n = largest_fitting(pb.InvokeResponse(event=pb.Event(seq=small + 2, type="status")), "data_json") + 1
    drained = await drain(client, "sized", body={"n": n, "small": small, "after": after})
    assert drained.result.outcome is Outcome.OUTPUT_LIMIT, drained.result
    assert drained.result.error == f"an event of {LIMIT + 1} bytes exceeds max_message_bytes={LIMIT}"
    assert drained.result.error_type == "OutputLimit"
    # What the host got is a gap-free prefix: the events before, nothing after the refused one.
    assert drained.event_pairs() == [("status", "before"), *(("status", i) for i in range(small))]


async def test_a_result_over_max_message_bytes_is_output_limit(client: AirlockClient) -> None:
    drained = await drain(client, "sized", body={"ret": LIMIT})
    assert drained.result.outcome is Outcome.OUTPUT_LIMIT
    assert drained.result.error.startswith("the Result of ")
    assert drained.result.error.endswith(f" bytes exceeds max_message_bytes={LIMIT}")
    assert drained.result.value_json == b""
    assert drained.event_pairs() == [("status", "before")]


async def test_a_result_just_within_max_message_bytes_is_delivered(client: AirlockClient) -> None:
    usage = pb.Usage(wall_ms=2**32, cpu_ms=2**32, peak_memory_bytes=2**40)  # room for any usage
    n = largest_fitting(pb.InvokeResponse(result=pb.Result(outcome=pb.OK, usage=usage)), "value_json")
    drained = await drain(client, "sized", body={"ret": n})
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert len(drained.result.value) == n


def test_merged_deltas_fit_one_message() -> None:
    # The worst case: every merged character a control character, written as a 6-byte escape.
    chars = max_merged_chars(LIMIT)
    event = pb.InvokeResponse(
        event=pb.Event(seq=2**32, type="chat:message:delta", data_json=b'{"content":"' + b"\\u0001" * chars + b'"}')
    )
    assert event.ByteSize() <= LIMIT
    assert max_merged_chars(8 * 1024 * 1024) == 64 * 1024  # the default limit keeps the default
