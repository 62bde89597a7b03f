"""Invocation semantics: events, calls, special arguments, valves (SEMANTICS.md)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Call, Outcome
from tests.conftest import plugin_source
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio

BODY = {
    "model": "llama3",
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    "chat_id": "chat-1",
    "session_id": "sess-1",
    "id": "msg-2",
}


async def test_events_arrive_in_order_with_contiguous_seq(client: AirlockClient) -> None:
    await register(client, "emitter")
    events: list[dict[str, Any]] = [
        {"type": "status", "data": {"description": "step 1", "done": False}},
        *({"type": "chat:message:delta", "data": {"content": f"t{i}"}} for i in range(30)),
        {"type": "chat:message", "data": {"content": "replaced"}},
        {"type": "notification", "data": {"type": "success", "content": "ok"}},
        {"type": "citation", "data": {"document": ["d"], "source": {"name": "s"}}},
        {"type": "my:custom", "data": [1, 2, {"x": None}]},
        {"type": "no-data"},
        {"type": "status", "data": {"description": "step 2", "done": True, "hidden": False}},
    ]
    drained = await drain(client, "emitter", body={"events": events, "return": {"n": 1}})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == {"n": 1}
    assert drained.event_pairs() == [(e["type"], e.get("data")) for e in events]


async def test_large_integers_and_unicode_survive_exactly(client: AirlockClient) -> None:
    await register(client, "emitter")
    data = {"big": 2**63 - 1, "neg": -(2**62), "text": "héllo 🌍 \u0000"}
    drained = await drain(client, "emitter", body={"events": [{"type": "x", "data": data}], "return": data})
    assert drained.events[0].data == data
    assert drained.result.value == data


async def test_started_names_the_function_and_effective_limits(client: AirlockClient) -> None:
    record = await client.put_function("emitter", plugin_source("emitter"))
    drained = await drain(client, "emitter", timeout=2.5, call_timeout=7)
    assert drained.started.function_id == "emitter"
    assert drained.started.function_sha256 == record.sha256
    assert drained.started.profile == "default"
    assert drained.started.timeout == 2.5
    assert drained.started.call_timeout == 7
    assert len(drained.started.invocation_id) == 32


async def test_calls_are_answered_by_the_host(client: AirlockClient) -> None:
    await register(client, "caller")
    calls: list[dict[str, Any]] = [
        {"type": "confirmation", "data": {"title": "Sure?", "message": "Really?"}},
        {"type": "input", "data": {"title": "Name", "message": "?", "placeholder": "x", "value": ""}},
        {"type": "input", "data": {"title": "Empty", "message": "?"}},
        {"type": "execute", "data": {"code": "return 1 + 1"}},
        {"type": "custom:thing", "data": None},
    ]
    answers: list[Any] = [True, "Ada", "", 2, {"any": ["json"]}]
    seen: list[Call] = []

    def answer(call: Call) -> Any:
        seen.append(call)
        return answers[len(seen) - 1]

    drained = await drain(client, "caller", on_call=answer, body={"calls": calls})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == answers
    assert [(c.type, c.data) for c in drained.calls] == [(c["type"], c["data"]) for c in calls]
    assert len({c.call_id for c in drained.calls}) == len(calls)
    # Each answer is followed by the plugin's status event: calls and events share one seq.
    assert [type(m).__name__ for m in drained.messages] == ["Call", "Event"] * len(calls)


async def test_unanswered_call_returns_open_webui_timeout_value(client: AirlockClient) -> None:
    await register(client, "caller")
    drained = await drain(
        client, "caller", body={"calls": [{"type": "confirmation", "data": {"title": "?"}}]}, call_timeout=0.3
    )
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == [{"error": "Event call timed out. The browser tab may be inactive or closed."}]
    assert drained.calls[0].timeout == pytest.approx(0.3)


async def test_stray_and_late_replies_are_dropped_not_fatal(client: AirlockClient) -> None:
    await register(client, "caller")
    calls = [{"type": "input", "data": {"title": "a"}}, {"type": "input", "data": {"title": "b"}}]
    async with client.invoke("caller", body={"calls": calls}) as invocation:
        received = []
        async for message in invocation:
            received.append(message)
            if isinstance(message, Call):
                await invocation.reply("no-such-call", "stray")
                await invocation.reply(message.call_id, f"answer-{message.seq}")
                await invocation.reply(message.call_id, "late duplicate")
    result = invocation.result
    assert result is not None
    assert result.outcome is Outcome.OK
    assert result.value == ["answer-1", "answer-3"]


async def test_host_closing_its_side_answers_calls_with_disconnected(client: AirlockClient) -> None:
    await register(client, "caller")
    calls = [{"type": "confirmation", "data": {"title": "?"}}]
    invocation = client.invoke("caller", body={"calls": calls})
    async with invocation:
        await invocation._call.done_writing()
        result = await invocation.wait()
    assert result.outcome is Outcome.OK
    assert result.value == [{"error": "Client session disconnected."}]


async def test_time_waiting_for_the_host_does_not_count_against_the_timeout(client: AirlockClient) -> None:
    await register(client, "caller")

    async def slow_human(call: Call) -> bool:
        await anyio.sleep(1.5)
        return True

    calls = [{"type": "confirmation", "data": {"title": "?"}}] * 2
    drained = await drain(client, "caller", on_call=slow_human, body={"calls": calls}, timeout=1.0)
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value == [True, True]
    assert drained.result.usage.wall_ms >= 3000


async def test_special_arguments_follow_open_webui(client: AirlockClient) -> None:
    await register(client, "special_args")
    user = {"id": "u1", "email": "a@example.com", "name": "Ada", "role": "user"}
    request = {
        "method": "post",
        "url": "https://owui.example/api/chat/actions/x?debug=1",
        "headers": {"Content-Type": "application/json", "X-Trace": "t"},
        "cookies": {"token": "c"},
        "client": {"host": "10.0.0.7", "port": 51000},
    }
    drained = await drain(
        client,
        "special_args",
        body=BODY,
        user=user,
        user_valves={"nickname": "ada", "shout": True},
        model={"id": "llama3", "name": "Llama 3"},
        request=request,
    )
    assert drained.result.outcome is Outcome.OK, drained.result.error
    value = drained.result.value
    assert value["body"] == BODY
    assert value["user"] == user
    assert value["user_valves_type"] == "UserValves"
    assert value["user_valves"] == {"nickname": "ada", "shout": True}
    assert value["model"] == {"id": "llama3", "name": "Llama 3"}
    assert value["id"] == "special_args"
    assert value["admin_valves"] == {"priority": 0, "greeting": "hello"}
    assert value["request"] == {
        "method": "POST",
        "url": "https://owui.example/api/chat/actions/x?debug=1",
        "path": "/api/chat/actions/x",
        # A starlette Request: cookies and the URL's host are headers too, as on a server.
        "headers": {"content-type": "application/json", "x-trace": "t", "cookie": "token=c", "host": "owui.example"},
        "content_type": "application/json",
        "query_params": {"debug": "1"},
        "cookies": {"token": "c"},
        "client": ["10.0.0.7", 51000],
    }
    assert value["emitter_is_coroutine_function"] is True
    assert value["caller_is_coroutine_function"] is True


async def test_invalid_user_valves_are_left_out_not_raised(client: AirlockClient) -> None:
    await register(client, "special_args")
    drained = await drain(client, "special_args", user={"id": "u"}, user_valves={"shout": "not a bool"})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value["user_valves_type"] is None
    assert "Failed to get user values" in drained.result.output


async def test_admin_valves_are_applied_before_each_call(client: AirlockClient) -> None:
    await register(client, "special_args", valves={"greeting": "ahoy", "priority": 3})
    drained = await drain(client, "special_args")
    assert drained.result.value["admin_valves"] == {"priority": 3, "greeting": "ahoy"}
    await client.update_valves("special_args", {"greeting": "hey"})
    drained = await drain(client, "special_args")
    assert drained.result.value["admin_valves"] == {"priority": 0, "greeting": "hey"}


async def test_host_valves_replace_the_stored_ones_whole(client: AirlockClient) -> None:
    # A host keeping valves itself (Open WebUI's bridge) sends them with each call: the
    # stored ones are not merged in, so a caller never runs with the admin's secrets mixed in.
    await register(client, "special_args", valves={"greeting": "ahoy", "priority": 3})
    drained = await drain(client, "special_args", valves={"greeting": "from the host"})
    assert drained.result.value["admin_valves"] == {"priority": 0, "greeting": "from the host"}
    drained = await drain(client, "special_args")
    assert drained.result.value["admin_valves"] == {"priority": 3, "greeting": "ahoy"}


async def test_host_valves_are_validated_by_the_valves_model(client: AirlockClient) -> None:
    await register(client, "special_args")
    drained = await drain(client, "special_args", valves={"priority": "high"})
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "ValidationError"
    assert "priority" in drained.result.error


async def test_kwargs_receive_no_special_arguments(client: AirlockClient) -> None:
    await register(client, "kwargs_only")
    drained = await drain(client, "kwargs_only", body={"a": 1})
    assert drained.result.value == {"kwargs": [], "body_keys": ["a"]}


async def test_body_is_always_passed_like_upstream(client: AirlockClient) -> None:
    await register(client, "no_body")
    drained = await drain(client, "no_body")
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "TypeError"
    assert "body" in drained.result.error


async def test_sync_action_runs(client: AirlockClient) -> None:
    await register(client, "sync_action")
    drained = await drain(client, "sync_action", body=BODY)
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == {"sync": True, "thread": "MainThread", "id": "sync_action", "n": 2}


async def test_sub_action_id_is_passed_as_id(client: AirlockClient) -> None:
    await register(client, "multi")
    upper = await drain(client, "multi.upper", body={"text": "MiXed"})
    lower = await drain(client, "multi.lower", body={"text": "MiXed"})
    assert (upper.result.value, lower.result.value) == ("MIXED", "mixed")


async def test_plugin_output_is_captured_apart_from_the_channel(client: AirlockClient) -> None:
    await register(client, "misbehave")
    drained = await drain(client, "misbehave", body={"do": "print_then_return"})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == "ok"
    assert drained.result.output == "hello from the plugin\nto stderr\n"
    assert not drained.result.output_truncated


async def test_plugin_stdin_is_empty(client: AirlockClient) -> None:
    await register(client, "misbehave")
    drained = await drain(client, "misbehave", body={"do": "read_stdin"})
    assert drained.result.value == ""


async def test_concurrent_invocations_are_independent(client: AirlockClient) -> None:
    await register(client, "emitter")
    results: dict[int, Any] = {}

    async def one(i: int) -> None:
        events = [{"type": "n", "data": i}] * 3
        drained = await drain(client, "emitter", body={"events": events, "return": i})
        assert [e.data for e in drained.events] == [i, i, i]
        results[i] = drained.result.value

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(one, i)
    assert results == {i: i for i in range(6)}
