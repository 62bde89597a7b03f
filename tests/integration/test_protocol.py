"""Misuse of the Invoke stream and bad requests get clear gRPC status errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient
from gateway.server import Gateway
from tests.helpers import register

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stub(gateway: Gateway) -> AsyncIterator[pb_grpc.RuntimeAsyncStub]:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        yield pb_grpc.RuntimeStub(channel)


async def invoke_raw(
    stub: pb_grpc.RuntimeAsyncStub, *requests: pb.InvokeRequest, half_close: bool = True
) -> tuple[list[pb.InvokeResponse], grpc.StatusCode, str]:
    """Send requests, read everything; return responses, final code and details."""
    call = stub.Invoke()
    responses: list[pb.InvokeResponse] = []
    for request in requests:
        await call.write(request)
    if half_close:
        await call.done_writing()
    try:
        while (response := await call.read()) is not grpc.aio.EOF:
            assert isinstance(response, pb.InvokeResponse)
            responses.append(response)
    except grpc.aio.AioRpcError as exc:
        return responses, exc.code(), exc.details() or ""
    return responses, await call.code(), await call.details()


def start(action_id: str = "emitter", **fields: object) -> pb.InvokeRequest:
    return pb.InvokeRequest(start=pb.Start(action_id=action_id, **fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requests", "code", "message"),
    [
        ((), grpc.StatusCode.INVALID_ARGUMENT, "the stream ended before a Start message"),
        (
            (pb.InvokeRequest(call_reply=pb.CallReply(call_id="x", value_json=b"1")),),
            grpc.StatusCode.FAILED_PRECONDITION,
            "the first message of an Invoke stream must be Start",
        ),
        ((pb.InvokeRequest(),), grpc.StatusCode.INVALID_ARGUMENT, "none of start, call_reply, host_reply, cancel set"),
        ((start(""),), grpc.StatusCode.INVALID_ARGUMENT, "Start.action_id is required"),
        ((start("nope"),), grpc.StatusCode.NOT_FOUND, "no function 'nope' is registered"),
        ((start("emitter.sub"),), grpc.StatusCode.NOT_FOUND, "has no sub-action 'sub'"),
        ((start("emitter.a.b"),), grpc.StatusCode.INVALID_ARGUMENT, "invalid action id"),
        ((start(body_json=b"{not json"),), grpc.StatusCode.INVALID_ARGUMENT, "Start.body_json is not valid"),
        ((start(body_json=b"[1]"),), grpc.StatusCode.INVALID_ARGUMENT, "Start.body_json must be a JSON object"),
        ((start(user_json=b"\xff"),), grpc.StatusCode.INVALID_ARGUMENT, "Start.user_json is not valid UTF-8 JSON"),
        (
            (start(request_json=b'{"headers": {"a": 1}}'),),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Start.request_json.headers.a",
        ),
        ((start(request_json=b'{"bogus": 1}'),), grpc.StatusCode.INVALID_ARGUMENT, "Start.request_json.bogus"),
        ((start(request_id="r" * 129),), grpc.StatusCode.INVALID_ARGUMENT, "request_id has more than 128"),
        (
            (start(timeout=Duration(seconds=11)),),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Start.timeout of 11 s exceeds wall_seconds=10 of profile 'default'",
        ),
        ((start(timeout=Duration(seconds=-1)),), grpc.StatusCode.INVALID_ARGUMENT, "must not be negative"),
        ((start("filt"),), grpc.StatusCode.FAILED_PRECONDITION, "is a filter, not an action"),
        ((start("off"),), grpc.StatusCode.FAILED_PRECONDITION, "action 'off' is not active"),
    ],
)
async def test_bad_starts_are_status_errors(
    client: AirlockClient,
    stub: pb_grpc.RuntimeAsyncStub,
    requests: tuple[pb.InvokeRequest, ...],
    code: grpc.StatusCode,
    message: str,
) -> None:
    await register(client, "emitter")
    await client.put_function("filt", "class Filter: pass\n")
    await client.put_function("off", "class Action:\n    async def action(self, body): pass\n", is_active=False)
    responses, got_code, details = await invoke_raw(stub, *requests)
    assert responses == []
    assert got_code is code
    assert message in details


async def test_second_start_ends_with_a_result_then_failed_precondition(
    client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub
) -> None:
    await register(client, "caller")
    body = b'{"calls": [{"type": "input", "data": {}}]}'
    call = stub.Invoke()
    await call.write(start("caller", body_json=body))
    first = await call.read()
    assert isinstance(first, pb.InvokeResponse)
    assert first.WhichOneof("msg") == "started"
    asked = await call.read()
    assert isinstance(asked, pb.InvokeResponse)
    assert asked.WhichOneof("msg") == "call"
    await call.write(start("caller"))
    result = await call.read()
    assert isinstance(result, pb.InvokeResponse)
    assert result.result.outcome == pb.CANCELLED
    assert "second Start" in result.result.error
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_invalid_reply_json_is_invalid_argument_after_a_result(
    client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub
) -> None:
    await register(client, "caller")
    call = stub.Invoke()
    await call.write(start("caller", body_json=b'{"calls": [{"type": "input", "data": {}}]}'))
    await call.read()
    asked = await call.read()
    assert isinstance(asked, pb.InvokeResponse)
    await call.write(pb.InvokeRequest(call_reply=pb.CallReply(call_id=asked.call.call_id, value_json=b"{oops")))
    result = await call.read()
    assert isinstance(result, pb.InvokeResponse)
    assert result.result.outcome == pb.CANCELLED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "CallReply.value_json is not valid" in (info.value.details() or "")


async def test_a_completed_stream_closes_with_ok(client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub) -> None:
    await register(client, "emitter")
    responses, code, _ = await invoke_raw(stub, start(body_json=b'{"events": [{"type": "a"}]}'))
    assert [r.WhichOneof("msg") for r in responses] == ["started", "event", "result"]
    assert responses[-1].result.outcome == pb.OK
    assert responses[-1].result.value_json == b'"done"'
    assert code is grpc.StatusCode.OK


async def test_oversized_message_is_resource_exhausted(client: AirlockClient, stub: pb_grpc.RuntimeAsyncStub) -> None:
    await register(client, "emitter")
    huge = b'{"x": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    _, code, _ = await invoke_raw(stub, start(body_json=huge))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
