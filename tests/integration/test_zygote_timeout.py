"""A fork request that times out leaves no worker behind: its late worker is killed and reaped."""

from __future__ import annotations

import os
import signal
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from airlock.client import AirlockClient, Outcome
from gateway.sandbox import procfs
from gateway.server import Gateway
from tests.helpers import drain, register, zombie

pytestmark = pytest.mark.anyio

#: Forks on demand only, and a fork gets one second.
SLOW_FORK_PROFILE = 'description = "tests: short fork timeout"\nwarm_pool_size = 0\nstart_timeout_seconds = 1\n'


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path) -> Path:
    (profiles_dir / "slowfork.toml").write_text(SLOW_FORK_PROFILE)
    return profiles_dir


def zombie_children() -> list[int]:
    """Children of this process (the gateway's) that exited and wait to be reaped."""
    found = []
    for pid in procfs.children(os.getpid()):
        try:
            if zombie(pid):
                found.append(pid)
        except OSError:
            continue  # reaped meanwhile
    return found


async def until(condition: Any, within: float) -> bool:
    with anyio.move_on_after(within):
        while not condition():  # noqa: ASYNC110 - polling the kernel's process table
            await anyio.sleep(0.02)
        return True
    return False


def logged(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


async def test_a_fork_that_times_out_leaves_no_zombie(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "emitter", profile="slowfork")  # starts the zygote
    slot = gateway.launcher.zygote(gateway.profiles["slowfork"])
    stopped = slot.current_pid
    assert stopped is not None
    assert await until(lambda: not zombie_children(), 5)
    with capture_logs() as logs:
        # A zygote too slow to answer: the request waits in its socket, with the worker's ends.
        os.kill(stopped, signal.SIGSTOP)
        async with anyio.create_task_group() as tg:
            results: list[Outcome] = []

            async def invoke() -> None:
                results.append((await drain(client, "emitter")).result.outcome)

            tg.start_soon(invoke)
            assert await until(lambda: logged(logs, "zygote_failed"), 10)
            # The gateway gave up on it; now it carries out the request it already holds.
            os.kill(stopped, signal.SIGCONT)
        assert results == [Outcome.OK]  # retried on a new zygote
    assert slot.current_pid != stopped
    [unanswered] = logged(logs, "zygote_unanswered_forks")
    assert unanswered["pid"] == stopped
    assert unanswered["unanswered"] == 1
    assert len(unanswered["late"]) == 1  # the zygote forked it after all: it was killed and reaped
    late = unanswered["late"][0]
    assert not os.path.exists(f"/proc/{late}") or not zombie(late)  # noqa: ASYNC240 - /proc is memory
    assert await until(lambda: not zombie_children(), 5), zombie_children()


async def test_a_zygote_that_never_answers_is_killed_and_reaped(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "emitter", profile="slowfork")
    slot = gateway.launcher.zygote(gateway.profiles["slowfork"])
    stopped = slot.current_pid
    assert stopped is not None
    with capture_logs() as logs:
        os.kill(stopped, signal.SIGSTOP)  # and never continued
        drained = await drain(client, "emitter")
    assert drained.result.outcome is Outcome.OK
    [unanswered] = logged(logs, "zygote_unanswered_forks")
    assert unanswered["late"] == []
    assert not os.path.exists(f"/proc/{stopped}")  # noqa: ASYNC240 - killed and reaped
    assert await until(lambda: not zombie_children(), 5), zombie_children()
