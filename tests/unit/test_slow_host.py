"""A full outbox is the host's time: the outbox says so, and the clock pauses for it."""

from __future__ import annotations

import anyio
import pytest

from airlock.domain.invocation import Outbound
from gateway.invocation.clock import ActiveClock
from gateway.invocation.outbox import Outbox

pytestmark = pytest.mark.anyio


class GatedHost:
    """A host that reads one message each time the test lets it."""

    def __init__(self) -> None:
        self.received: list[Outbound] = []
        self.allowed = 0
        self._more = anyio.Event()

    def allow(self, count: int) -> None:
        self.allowed += count
        self._more.set()

    async def send(self, message: Outbound) -> None:
        while self.allowed <= len(self.received):
            self._more = anyio.Event()
            await self._more.wait()
        self.received.append(message)

    async def receive(self) -> None:
        return None


async def settle() -> None:
    for _ in range(20):
        await anyio.lowlevel.checkpoint()


async def test_the_outbox_reports_the_host_behind_from_full_until_half() -> None:
    reports: list[bool] = []
    outbox = Outbox(capacity=4, merge_after=4, host_slow=reports.append)
    host = GatedHost()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outbox.write_to, host)
        for i in range(5):  # the writer holds one, four wait: the queue is full
            await outbox.event("status", {"i": i})
        await settle()
        assert reports == []
        tg.start_soon(outbox.event, "status", {"i": 5})  # must wait for room: the host is behind
        await settle()
        assert reports == [True]
        host.allow(1)  # room for the waiting one; the queue is full again
        await settle()
        assert reports == [True]
        host.allow(2)  # the queue is down to half: the host caught up
        await settle()
        assert reports == [True, False]
        host.allow(100)
        await outbox.close()
    assert len(host.received) == 6


async def test_a_failing_host_ends_the_wait_it_caused() -> None:
    reports: list[bool] = []
    outbox = Outbox(capacity=1, merge_after=1, host_slow=reports.append)

    class FailingHost(GatedHost):
        async def send(self, message: Outbound) -> None:
            await super().send(message)
            raise RuntimeError("stream reset")

    host = FailingHost()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outbox.write_to, host)
        await outbox.event("status", 1)
        await outbox.event("status", 2)
        tg.start_soon(outbox.event, "status", 3)
        await settle()
        assert reports == [True]
        host.allow(1)
        await settle()
        assert reports == [True, False]
        assert outbox.broken


async def test_pauses_for_the_host_nest_with_calls() -> None:
    clock = ActiveClock(budget=10, ceiling=20)
    clock.pause()  # the outbox is full
    clock.call_started()
    await anyio.sleep(0.05)
    clock.resume()
    paused = clock.running_time()
    await anyio.sleep(0.05)
    assert clock.running_time() == paused  # the call is still outstanding
    clock.call_finished()
    await anyio.sleep(0.05)
    assert clock.running_time() > paused


async def test_a_host_that_stays_slow_still_meets_the_session_ceiling() -> None:
    clock = ActiveClock(budget=0.05, ceiling=0.3)
    clock.pause()
    with anyio.fail_after(2):
        assert await clock.expired() == "session"
