"""Regressions from review: deep JSON, abandoned calls, queueing, long strings, start failures."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import grpc
import pytest
import structlog
from google.protobuf.duration_pb2 import Duration

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.client import AirlockClient, Call, Event, Outcome
from gateway.profiles import Profile
from gateway.sandbox.cgroups import Cgroups
from gateway.sandbox.worker import StartFailed, Worker, spawner
from gateway.uids import SANDBOX_UID_FIRST
from tests.conftest import plugin_source
from tests.helpers import drain, register, sandbox_gone

pytestmark = pytest.mark.anyio

DEEP = b"[" * 300 + b"]" * 300


async def expect_code(code: grpc.StatusCode, coro: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro  # type: ignore[misc]
    assert info.value.code() is code, info.value.details()
    return info.value.details() or ""


async def test_deep_json_from_the_host_is_invalid_argument(client: AirlockClient) -> None:
    await register(client, "valves")
    put = client._registry.PutFunction(  # the client library cannot even build such valves
        pb.PutFunctionRequest(id="v2", source=plugin_source("valves"), valves_json=b'{"a": ' + DEEP + b"}")
    )
    assert "valves_json is nested too deeply" in await expect_code(grpc.StatusCode.INVALID_ARGUMENT, put)


async def test_forged_frames_are_crashes_not_gateway_errors(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    for do, message in [
        ("forged_deep_event", "nested too deeply"),
        ("forged_unknown_op", "unexpected 'ready' frame during an invocation"),
    ]:
        drained = await drain(client, "misbehave", body={"do": do})
        assert drained.result.outcome is Outcome.CRASHED, drained.result
        assert message in drained.result.error
        assert await sandbox_gone(drained.events[0].data["sandbox"])


async def test_long_strings_from_the_plugin_stay_function_errors(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    long_error = await drain(client, "misbehave", body={"do": "long_error"})
    assert long_error.result.outcome is Outcome.FUNCTION_ERROR
    assert long_error.result.error_type == "RuntimeError"
    assert long_error.result.error.startswith("eeee")
    assert long_error.result.error.endswith("... (truncated)")
    assert len(long_error.result.error) <= 16_384
    long_type = await drain(client, "misbehave", body={"do": "long_event_type"})
    assert long_type.result.outcome is Outcome.FUNCTION_ERROR
    assert "an event 'type' has at most 256 characters" in long_type.result.error


async def test_background_threads_do_not_delay_the_result(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    drained = await drain(client, "misbehave", body={"do": "background_thread"})
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == "quick"


async def test_printed_host_paths_are_hidden(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    drained = await drain(client, "misbehave", body={"do": "print_paths"})
    assert drained.result.outcome is Outcome.OK
    output = drained.result.output
    assert sys.prefix not in output
    assert sys.base_prefix not in output
    assert output.count("<runtime>") == 2
    assert "/tmp/function_misbehave.py" in output  # the sandbox's own /tmp, not a host path


async def test_an_abandoned_call_is_retired_and_later_calls_work(client: AirlockClient) -> None:
    await register(client, "patient")
    with structlog.testing.capture_logs() as logs:
        async with client.invoke("patient", timeout=1.5) as invocation:
            calls: list[Call] = []
            async for message in invocation:
                if isinstance(message, Call):
                    calls.append(message)
                    if len(calls) == 2:
                        await invocation.reply(calls[0].call_id, "too late")  # the plugin gave up on it
                        await invocation.reply(calls[1].call_id, "second answer")
    assert invocation.result is not None
    assert invocation.result.outcome is Outcome.OK, invocation.result
    assert invocation.result.value == ["gave up", "second answer"]
    events = [entry["event"] for entry in logs]
    assert "event_call_abandoned" in events
    assert "stray_call_reply_dropped" in events


async def test_a_reply_after_the_call_timed_out_is_dropped(client: AirlockClient) -> None:
    await register(client, "caller")
    with structlog.testing.capture_logs() as logs:
        async with client.invoke(
            "caller", body={"calls": [{"type": "input", "data": {}}], "then_sleep": 0.5}, call_timeout=0.2
        ) as invocation:
            calls: list[Call] = []
            async for message in invocation:
                if isinstance(message, Call):
                    calls.append(message)
                elif isinstance(message, Event):  # the plugin's status, after its call timed out
                    await invocation.reply(calls[0].call_id, "late")
    assert invocation.result is not None
    assert invocation.result.value == [{"error": "Event call timed out. The browser tab may be inactive or closed."}]
    strays = [e for e in logs if e["event"] == "stray_call_reply_dropped"]
    assert [e["reason"] for e in strays] == ["already answered or timed out"]


async def test_time_queued_for_a_worker_does_not_count_against_the_timeout(client: AirlockClient) -> None:
    await register(client, "sleeper", profile="single")
    results: list[Outcome] = []

    async def one() -> None:
        drained = await drain(client, "sleeper", body={"seconds": 1.2})
        results.append(drained.result.outcome)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert results == [Outcome.OK, Outcome.OK]  # the second waited ~1.3 s for the only slot


async def test_registration_is_not_blocked_by_invocations_waiting_on_the_host(client: AirlockClient) -> None:
    await register(client, "sleeper", profile="single")
    async with client.invoke("sleeper", body={"ask": True}) as invocation:
        async for message in invocation:
            if isinstance(message, Call):
                # The only invocation slot is taken by a worker waiting for this answer.
                record = await client.put_function("another", plugin_source("emitter"), profile="single")
                assert record.kind == "action"
                await invocation.reply(message.call_id, True)
    assert invocation.result is not None
    assert invocation.result.outcome is Outcome.OK


async def test_an_empty_actions_list_shows_no_button(client: AirlockClient) -> None:
    await client.put_function(
        "none", "class Action:\n    actions = []\n    async def action(self, body): pass\n", is_global=True
    )
    await client.put_function("plain", "class Action:\n    async def action(self, body): pass\n", is_global=True)
    record = await client.get_function("none")
    assert record.declares_actions
    assert [b.id for b in await client.list_actions("m")] == ["plain"]


async def test_replacing_with_a_broken_source_reports_the_load_error(client: AirlockClient) -> None:
    await client.put_function("v", plugin_source("valves"), valves={"api_key": "k"})
    details = await expect_code(grpc.StatusCode.INVALID_ARGUMENT, client.put_function("v", "class Action(:\n"))
    assert details.startswith("function failed to load: SyntaxError")


async def test_out_of_range_durations_are_invalid_argument(client: AirlockClient) -> None:
    await register(client, "emitter")
    call = client._runtime.Invoke()
    await call.write(pb.InvokeRequest(start=pb.Start(action_id="emitter", timeout=Duration(seconds=10**15))))
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "Start.timeout is out of range" in (info.value.details() or "")


async def test_a_worker_that_cannot_start_says_why(tmp_path: Path) -> None:
    script = tmp_path / "broken-python"
    script.write_text("#!/bin/sh\necho 'cannot import runner: boom' >&2\nexit 7\n")
    script.chmod(0o755)
    cgroups = Cgroups.detect()
    cgroups.prepare()
    profile = Profile(name="p", mode="fresh")
    with pytest.raises(StartFailed) as info:
        await Worker.start(profile, spawn=spawner(profile, str(script)), cgroups=cgroups, uid=SANDBOX_UID_FIRST)
    assert str(info.value) == "it exited with status 7 before it was ready: cannot import runner: boom"
