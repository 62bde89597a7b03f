"""The gateway's background task group: nothing outlives aclose(), no failure is lost."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest
import structlog

from gateway.background import Background

pytestmark = pytest.mark.anyio


async def test_aclose_cancels_what_still_runs_and_waits_for_it() -> None:
    background = Background()
    await background.start()
    ended = anyio.Event()

    async def forever() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            ended.set()

    background.start_soon(forever, name="forever")
    await anyio.wait_all_tasks_blocked()
    await background.aclose()
    assert ended.is_set()
    assert not background.running


async def test_shielded_cleanup_finishes_before_aclose_returns() -> None:
    background = Background()
    await background.start()
    began, finished = anyio.Event(), anyio.Event()

    async def cleanup() -> None:
        with anyio.CancelScope(shield=True):
            began.set()
            await anyio.sleep(0.2)
            finished.set()

    background.start_soon(cleanup)
    await began.wait()
    await background.aclose()
    assert finished.is_set()


async def test_a_failed_task_is_logged_at_once_raised_by_aclose_and_ends_no_other() -> None:
    background = Background()
    await background.start()
    other_ran = anyio.Event()
    keeps_running = anyio.Event()

    async def broken() -> None:
        raise LookupError("a bug in a background task")

    async def other() -> None:
        keeps_running.set()
        await anyio.sleep_forever()

    background.start_soon(other)
    with structlog.testing.capture_logs() as logs:
        background.start_soon(broken)
        with anyio.fail_after(5):
            while not logs:  # noqa: ASYNC110 - the failure is only logged
                await anyio.sleep(0.01)
    assert [(entry["event"], entry["task"]) for entry in logs] == [("background_task_failed", None)]
    # The group goes on: the other task still runs, and new ones start.
    assert background.running
    await keeps_running.wait()

    async def later() -> None:
        other_ran.set()

    background.start_soon(later)
    with anyio.fail_after(5):
        await other_ran.wait()
    with pytest.raises(ExceptionGroup) as raised:
        await background.aclose()
    assert raised.group_contains(LookupError, match="a bug in a background task")


async def test_a_task_failing_before_it_reports_started_raises_from_start_task() -> None:
    background = Background()
    await background.start()

    async def fails_early(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        raise LookupError("could not bind")

    with pytest.raises(LookupError, match="could not bind"):
        await background.start_task(fails_early)
    assert background.running
    await background.aclose()


async def test_start_and_aclose_need_not_nest_with_the_callers_scopes() -> None:
    # Gateway.start() and stop() are separate calls: a test may stop the gateway inside a
    # task group it opened after starting it, which a group entered by start() itself
    # could not be exited from.
    background = Background()
    await background.start()
    async with anyio.create_task_group() as callers:
        callers.start_soon(anyio.sleep, 0.01)
        await background.aclose()
    assert not background.running


async def test_nothing_can_be_started_before_start_or_after_aclose() -> None:
    background = Background()
    with pytest.raises(RuntimeError, match="not running"):
        background.start_soon(anyio.sleep, 0)
    await background.start()
    await background.aclose()
    with pytest.raises(RuntimeError, match="not running"):
        background.start_soon(anyio.sleep, 0)
    await background.aclose()  # a second close is a no-op


async def test_start_task_waits_for_the_task_to_say_it_started() -> None:
    background = Background()
    await background.start()

    async def serve(value: str, *, task_status: anyio.abc.TaskStatus[str]) -> None:
        task_status.started(value)
        await anyio.sleep_forever()

    assert await background.start_task(serve, "listening") == "listening"
    await background.aclose()
