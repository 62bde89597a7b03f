"""Every Result outcome, from real workers that really misbehave."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Event, Outcome
from tests.helpers import Drained, drain, register, sandbox_alive, sandbox_gone

pytestmark = pytest.mark.anyio


async def misbehave(client: AirlockClient, do: str, **kw: Any) -> tuple[str, Drained]:
    await register(client, "misbehave", profile="fast")
    drained = await drain(client, "misbehave", body={"do": do}, **kw)
    return drained.events[0].data["sandbox"], drained


async def test_plugin_exception_is_function_error_with_its_own_traceback(client: AirlockClient) -> None:
    await register(client, "raises")
    drained = await drain(client, "raises", body={"value": 42})
    result = drained.result
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error_type == "ValueError"
    assert result.error == "cannot handle 42"
    assert 'File "<function raises>", line 7, in helper' in result.traceback
    assert "raise ValueError" in result.traceback
    assert "/runner/" not in result.traceback
    assert "site-packages" not in result.traceback
    assert result.output == "about to fail\n"
    assert result.value_json == b""


async def test_timeout(client: AirlockClient) -> None:
    sandbox, drained = await misbehave(client, "sleep", timeout=0.5)
    assert drained.result.outcome is Outcome.TIMEOUT
    assert "timeout of 0.5 s" in drained.result.error
    assert await sandbox_gone(sandbox)


async def test_timeout_defaults_to_the_profile(client: AirlockClient) -> None:
    sandbox, drained = await misbehave(client, "block")
    assert drained.started.timeout == 3
    assert drained.result.outcome is Outcome.TIMEOUT
    assert drained.result.usage.wall_ms >= 3000
    assert await sandbox_gone(sandbox)


@pytest.mark.parametrize("do", ["spin", "spin_ignoring_sigxcpu"])
async def test_cpu_limit(client: AirlockClient, do: str) -> None:
    sandbox, drained = await misbehave(client, do)
    result = drained.result
    assert result.outcome is Outcome.CPU_LIMIT, result
    assert result.usage.cpu_ms >= 900
    assert await sandbox_gone(sandbox)


async def test_memory_limit(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "alloc")
    result = drained.result
    assert result.outcome is Outcome.MEMORY_LIMIT
    assert result.error_type == "MemoryError"


async def test_worker_exit_is_crashed(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "exit")
    result = drained.result
    assert result.outcome is Outcome.CRASHED
    assert result.error == "the worker exited with status 3 before returning a result"


async def test_worker_signal_is_crashed(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "segv")
    result = drained.result
    assert result.outcome is Outcome.CRASHED
    assert result.error == "the worker was killed by signal SIGSEGV"


async def test_worker_that_closes_its_channel_is_crashed_and_killed(client: AirlockClient) -> None:
    sandbox, drained = await misbehave(client, "close_channel")
    assert drained.result.outcome is Outcome.CRASHED
    assert await sandbox_gone(sandbox)


async def test_system_exit_is_a_function_error(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "system_exit")
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "SystemExit"


async def test_unserialisable_return_value_is_a_function_error(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "unserialisable")
    result = drained.result
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error_type == "TypeError"
    assert "not JSON-serializable" in result.error
    assert "Unserialisable" in result.error


async def test_malformed_event_raises_inside_the_plugin(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "bad_event")
    result = drained.result
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error_type == "TypeError"
    assert "__event_emitter__ expects a dict" in result.error


@pytest.mark.parametrize(
    ("do", "message"),
    [
        ("print_flood", "printed more than stdio_bytes=65536"),
        ("one_long_line", "printed more than stdio_bytes=65536"),
        ("event_flood", "more than max_events=200"),
        ("huge_event", "exceeds frame_bytes=65536"),
    ],
)
async def test_output_limits(client: AirlockClient, do: str, message: str) -> None:
    sandbox, drained = await misbehave(client, do)
    result = drained.result
    assert result.outcome is Outcome.OUTPUT_LIMIT, result
    assert message in result.error
    assert len(result.output) <= 1024
    assert await sandbox_gone(sandbox)


async def test_usage_is_measured(client: AirlockClient) -> None:
    _, drained = await misbehave(client, "spin")
    usage = drained.result.usage
    assert 900 <= usage.cpu_ms <= 3000
    assert usage.peak_memory_bytes > 5 * 1024 * 1024
    assert usage.wall_ms >= usage.cpu_ms * 0.9


async def test_cancel_kills_the_worker_and_reports_cancelled(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    async with client.invoke("misbehave", body={"do": "block"}) as invocation:
        async for message in invocation:
            if isinstance(message, Event) and message.type == "pid":
                sandbox = message.data["sandbox"]
                assert sandbox_alive(sandbox)
                await invocation.cancel("user pressed stop")
    result = invocation.result
    assert result is not None
    assert result.outcome is Outcome.CANCELLED
    assert result.error == "user pressed stop"
    assert await sandbox_gone(sandbox)


async def test_client_going_away_kills_the_worker_and_its_children(client: AirlockClient) -> None:
    await register(client, "misbehave", profile="fast")
    sandbox = ""
    async with client.invoke("misbehave", body={"do": "fork_and_sleep"}) as invocation:
        async for message in invocation:
            if isinstance(message, Event) and message.type == "pid":
                sandbox = message.data["sandbox"]
            if isinstance(message, Event) and message.type == "child":
                # The worker sleeps and its forked child sleeps: both alive until we leave.
                assert sandbox_alive(sandbox)
                break
    with anyio.fail_after(5):
        while sandbox_alive(sandbox):  # noqa: ASYNC110 - polling the kernel's process table
            await anyio.sleep(0.02)


async def test_gateway_stays_healthy_after_misbehaviour(client: AirlockClient) -> None:
    await register(client, "emitter")
    for do in ("segv", "exit", "event_flood"):
        await misbehave(client, do)
    drained = await drain(client, "emitter", body={"events": [{"type": "ok"}]})
    assert drained.result.outcome is Outcome.OK
