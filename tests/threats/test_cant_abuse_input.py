"""Hostile input from a host: clear gRPC errors, nothing lost, stray replies dropped and logged.

tests/integration/test_protocol.py covers every malformed request; these are the threat
model's row, with the gateway shown to keep serving after each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import structlog

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient, Call, Outcome
from gateway.server import Gateway
from tests.helpers import check
from tests.threats.probe import attack, function_id, register

pytestmark = [pytest.mark.anyio]


@pytest.fixture
async def stub(gateway: Gateway) -> AsyncIterator[pb_grpc.RuntimeAsyncStub]:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        yield pb_grpc.RuntimeStub(channel)


async def final_code(stub: pb_grpc.RuntimeAsyncStub, *requests: pb.InvokeRequest) -> tuple[list[str], grpc.StatusCode]:
    """Send requests on one Invoke stream; the kinds of responses read and the final status."""
    call = stub.Invoke()
    for request in requests:
        await call.write(request)
    await call.done_writing()
    kinds: list[str] = []
    try:
        while (response := await call.read()) is not grpc.aio.EOF:
            assert isinstance(response, pb.InvokeResponse)
            kinds.append(str(response.WhichOneof("msg")))
    except grpc.aio.AioRpcError as exc:
        return kinds, exc.code()
    return kinds, await call.code()


def start(action_id: str, body_json: bytes = b"{}") -> pb.InvokeRequest:
    return pb.InvokeRequest(start=pb.Start(action_id=action_id, body_json=body_json))


async def still_serves(client: AirlockClient) -> None:
    assert (await attack(client, "exhaust", "benign")).value == "fine"


@pytest.mark.parametrize(
    ("body_json", "code"),
    [
        (b'{"attack": "benign", "pad": "' + b"a" * (9 * 1024 * 1024) + b'"}', grpc.StatusCode.RESOURCE_EXHAUSTED),
        (b'{"attack": ', grpc.StatusCode.INVALID_ARGUMENT),
        (b'["attack", "benign"]', grpc.StatusCode.INVALID_ARGUMENT),
        (b'{"attack": "\xff"}', grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["oversized_body", "invalid_json", "not_an_object", "invalid_utf8"],
)
async def test_cant_send_a_hostile_body(
    client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub, body_json: bytes, code: grpc.StatusCode
) -> None:
    fid = await register(client, "exhaust")
    assert await final_code(stub, start(fid, body_json)) == ([], code)
    await still_serves(client)


async def test_cant_invoke_an_unknown_action(client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub) -> None:
    assert await final_code(stub, start("no-such-action")) == ([], grpc.StatusCode.NOT_FOUND)
    await still_serves(client)


async def test_cant_start_twice_on_one_stream(client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub) -> None:
    fid = await register(client, "exhaust")
    call = stub.Invoke()
    await call.write(start(fid, b'{"attack": "sleep"}'))
    kinds = []
    for _ in range(2):  # Started, then the sandbox event: the first invocation is running
        response = await call.read()
        assert isinstance(response, pb.InvokeResponse)
        kinds.append(response.WhichOneof("msg"))
    assert kinds == ["started", "event"]
    await call.write(start(fid, b'{"attack": "benign"}'))
    result = await call.read()
    assert isinstance(result, pb.InvokeResponse)
    assert result.result.outcome == pb.CANCELLED
    assert "second Start" in result.result.error
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    await still_serves(client)


async def test_cant_reply_to_a_call_that_does_not_exist(client: AirlockClient) -> None:
    await register(client, "forge")
    received: list[Any] = []
    with structlog.testing.capture_logs() as logs:
        async with client.invoke(function_id("forge", "fast"), body={"attack": "ask", "question": "?"}) as stream:
            async for message in stream:
                received.append(message)
                if isinstance(message, Call):
                    await stream.reply("0" * 32, "for nobody")
                    await stream.reply(message.call_id, "the answer")
    drained = check(received)
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == "the answer"
    strays = [entry for entry in logs if entry["event"] == "stray_call_reply_dropped"]
    assert [entry["reason"] for entry in strays] == ["unknown call_id"]
