"""Host requests: the open_webui stand-ins ask the host over the invocation's stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client import AirlockClient, HostRequest, Outcome
from gateway.server import Gateway
from tests.helpers import drain, register

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

USER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "user"}


def lookup(records: dict[str, Any]) -> Any:
    def answer(request: HostRequest) -> Any:
        return records.get(request.args["id"])

    return answer


async def test_lookups_are_answered_by_the_host_as_upstream_models(client: AirlockClient) -> None:
    await register(client, "host_calls")
    chat = {"id": "c1", "user_id": "u-1", "title": "Trip", "chat": {"messages": [{"role": "user", "content": "hi"}]}}
    file = {"id": "f1", "user_id": "u-1", "filename": "a.txt", "data": {"content": "file text"}}
    host = {
        "users.get_user_by_id": lookup({"u-1": USER}),
        "chats.get_chat_by_id": lookup({"c1": chat}),
        "files.get_file_by_id": lookup({"f1": file}),
    }
    found = await drain(client, "host_calls", body={"mode": "user", "id": "u-1"}, host=host)
    assert found.result.outcome is Outcome.OK, found.result.error
    assert found.result.value["type"] == "UserModel"
    assert found.result.value["user"]["email"] == "ada@example.com"
    assert found.result.value["user"]["created_at"] == 0  # upstream's field, defaulted
    [request] = found.host_requests
    assert (request.method, request.args, request.stream) == ("users.get_user_by_id", {"id": "u-1"}, False)
    missing = await drain(client, "host_calls", body={"mode": "user", "id": "nobody"}, host=host)
    assert missing.result.value is None
    chat_result = await drain(client, "host_calls", body={"mode": "chat", "id": "c1"}, host=host)
    assert chat_result.result.value == {"title": "Trip", "messages": [{"role": "user", "content": "hi"}]}
    file_result = await drain(client, "host_calls", body={"mode": "file", "id": "f1"}, host=host)
    assert file_result.result.value == {"filename": "a.txt", "content": "file text"}


async def test_generate_chat_completion_gets_the_user_and_form_data(client: AirlockClient) -> None:
    await register(client, "host_calls")
    seen: list[Any] = []

    async def complete(request: HostRequest) -> Any:
        seen.append(request.args)
        return {"choices": [{"message": {"role": "assistant", "content": "pong"}}]}

    host = {"generate_chat_completion": complete, "users.get_user_by_id": lookup({"u-1": USER})}
    drained = await drain(client, "host_calls", body={"mode": "complete", "prompt": "ping"}, user=USER, host=host)
    assert drained.result.value == {"choices": [{"message": {"role": "assistant", "content": "pong"}}]}
    [args] = seen
    assert args["form_data"] == {"model": "m", "messages": [{"role": "user", "content": "ping"}], "stream": False}
    assert args["user"]["id"] == "u-1"
    assert args["user"]["email"] == "ada@example.com"
    assert (args["bypass_filter"], args["bypass_system_prompt"]) == (False, False)


async def test_streamed_completion_is_a_streaming_response_of_sse_lines(client: AirlockClient) -> None:
    await register(client, "host_calls")

    async def chunks(request: HostRequest) -> AsyncIterator[Any]:
        assert request.stream
        for word in ("Hel", "lo"):
            yield {"choices": [{"delta": {"content": word}}]}

    drained = await drain(
        client, "host_calls", body={"mode": "stream"}, user=USER, host={"generate_chat_completion": chunks}
    )
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value == {
        "type": "StreamingResponse",
        "media_type": "text/event-stream",
        "lines": [
            'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n',
            'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
            "data: [DONE]\n\n",
        ],
    }
    assert drained.host_requests[0].stream is True
    # The plugin handled each chunk as it came: one status per chunk.
    assert [e.data["description"] for e in drained.events] == ["chunk 1", "chunk 2", "chunk 3"]


async def test_a_method_the_host_does_not_offer_fails_at_once_without_asking(client: AirlockClient) -> None:
    await register(client, "host_calls")
    drained = await drain(client, "host_calls", body={"mode": "chat", "id": "c1"})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value["raised"] == "HostUnavailable"
    assert "does not answer 'chats.get_chat_by_id'" in drained.result.value["message"]
    assert "COMPATIBILITY.md" in drained.result.value["message"]
    assert drained.host_requests == []


async def test_the_gateway_refuses_a_forged_request_for_a_method_not_offered(client: AirlockClient) -> None:
    """The worker's own check is skipped: the gateway must refuse on its own."""
    await register(client, "host_calls")
    host = {"users.get_user_by_id": lookup({})}
    body = {"mode": "forge", "method": "chats.get_chat_by_id"}
    drained = await drain(client, "host_calls", body=body, host=host)
    [reply] = drained.result.value
    assert reply["kind"] == "unavailable"
    assert "not in the invocation's Start.host_capabilities" in reply["error"]
    assert drained.host_requests == []


async def test_host_errors_are_raised_in_the_plugin(client: AirlockClient) -> None:
    await register(client, "host_calls")

    def fail(request: HostRequest) -> Any:
        raise LookupError("model 'm' not found")

    drained = await drain(
        client, "host_calls", body={"mode": "complete", "prompt": "x"}, user=USER,
        host={"generate_chat_completion": fail, "users.get_user_by_id": lookup({"u-1": USER})},
    )  # fmt: skip
    assert drained.result.value == {"raised": "HostError", "message": "LookupError: model 'm' not found"}


async def test_a_coroutine_for_a_user_is_a_clear_error(client: AirlockClient) -> None:
    await register(client, "host_calls")
    host = {"generate_chat_completion": lambda r: {}, "users.get_user_by_id": lookup({"u-1": USER})}
    drained = await drain(client, "host_calls", body={"mode": "sync_user"}, user=USER, host=host)
    assert drained.result.value["raised"] == "TypeError"
    assert "await Users.get_user_by_id" in drained.result.value["message"]
    assert "never awaited" not in drained.result.output


async def test_an_unanswered_request_times_out_in_the_plugin(client: AirlockClient) -> None:
    await register(client, "host_calls")

    async def never(request: HostRequest) -> Any:
        await asyncio.sleep(30)

    drained = await drain(
        client, "host_calls", body={"mode": "user", "id": "u-1"}, call_timeout=0.3,
        host={"users.get_user_by_id": never},
    )  # fmt: skip
    assert drained.result.value["raised"] == "TimeoutError"
    assert "did not answer in time" in drained.result.value["message"]


async def test_waiting_for_the_host_does_not_count_against_the_timeout(client: AirlockClient) -> None:
    await register(client, "host_calls", profile="fast")  # wall_seconds = 3

    async def slow(request: HostRequest) -> Any:
        await asyncio.sleep(4)
        return USER

    drained = await drain(client, "host_calls", body={"mode": "busy", "id": "u-1"}, host={"users.get_user_by_id": slow})
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value["found"] is True
    assert drained.result.value["waited"] > 3.5


async def test_a_plugin_that_gives_up_ends_the_request_and_late_replies_are_dropped(client: AirlockClient) -> None:
    await register(client, "host_calls")

    async def late(request: HostRequest) -> Any:
        await asyncio.sleep(0.6)
        return USER

    drained = await drain(client, "host_calls", body={"mode": "gave_up"}, host={"users.get_user_by_id": late})
    assert drained.result.value == "gave up"


async def test_a_plugin_that_stops_reading_a_stream_leaves_nothing_pending(client: AirlockClient) -> None:
    await register(client, "host_calls")

    async def endless(request: HostRequest) -> AsyncIterator[Any]:
        for n in range(50):
            yield {"n": n}
            await asyncio.sleep(0.01)

    drained = await drain(
        client, "host_calls", body={"mode": "stream_break"}, user=USER, host={"generate_chat_completion": endless}
    )
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == 'data: {"n":0}\n\n'


async def test_unknown_capabilities_are_invalid_argument(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        call = pb_grpc.RuntimeStub(channel).Invoke()
        await call.write(pb.InvokeRequest(start=pb.Start(action_id="x", host_capabilities=["users.delete_all"])))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "users.delete_all" in (raised.value.details() or "")
    assert "generate_chat_completion" in (raised.value.details() or "")


async def read_to_the_end(call: Any) -> None:
    while await call.read() is not grpc.aio.EOF:
        pass


async def test_stray_and_malformed_host_replies(gateway: Gateway, client: AirlockClient) -> None:
    """A reply nobody waits for is dropped; a reply without an id is INVALID_ARGUMENT."""
    await register(client, "host_calls")
    start = pb.Start(
        action_id="host_calls",
        body_json=orjson.dumps({"mode": "user", "id": "u-1"}),
        host_capabilities=["users.get_user_by_id"],
    )
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        call = pb_grpc.RuntimeStub(channel).Invoke()
        await call.write(pb.InvokeRequest(start=start))
        await call.write(pb.InvokeRequest(host_reply=pb.HostReply(request_id="nope", value_json=b"1")))
        messages: list[pb.InvokeResponse] = []
        while True:
            response = await call.read()
            assert isinstance(response, pb.InvokeResponse)
            messages.append(response)
            if response.HasField("host_request"):
                request_id = response.host_request.request_id
                # A CallReply with a host request's id is not its answer.
                await call.write(pb.InvokeRequest(call_reply=pb.CallReply(call_id=request_id, value_json=b"1")))
                reply = pb.HostReply(request_id=request_id, value_json=orjson.dumps(USER))
                await call.write(pb.InvokeRequest(host_reply=reply))
            if response.HasField("result"):
                break
        result = messages[-1].result
        assert result.outcome == pb.OK, result.error
        assert orjson.loads(result.value_json)["user"]["name"] == "Ada"

        bad = pb_grpc.RuntimeStub(channel).Invoke()
        await bad.write(pb.InvokeRequest(start=start))
        await bad.write(pb.InvokeRequest(host_reply=pb.HostReply(value_json=b"1")))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read_to_the_end(bad)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "HostReply.request_id is required" in (raised.value.details() or "")
