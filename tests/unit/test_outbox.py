"""The outbound queue: order, contiguous seq, merging only under pressure, bounded, lossless."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest

from airlock.domain.invocation import Call, Event, Outbound
from gateway.invocation.outbox import Outbox

pytestmark = pytest.mark.anyio


class SlowHost:
    """A host that takes each message only when the test lets it."""

    def __init__(self) -> None:
        self.received: list[Outbound] = []
        self.gate = anyio.Event()

    async def send(self, message: Outbound) -> None:
        await self.gate.wait()
        self.received.append(message)

    async def receive(self) -> None:
        return None


class SluggishHost(SlowHost):
    """A host that reads, but more slowly than the plugin emits."""

    async def send(self, message: Outbound) -> None:
        await anyio.sleep(0.001)
        self.received.append(message)


class BrokenHost(SlowHost):
    async def send(self, message: Outbound) -> None:
        raise RuntimeError("stream reset")


def decoded(messages: list[Outbound]) -> list[tuple[int, str, Any]]:
    out = []
    for m in messages:
        assert isinstance(m, Event | Call)
        out.append((m.seq, m.type, orjson.loads(m.data_json)))
    return out


async def run(outbox: Outbox, host: SlowHost, produce: Any) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(outbox.write_to, host)
        await produce()
        host.gate.set()
        await outbox.close()


async def test_nothing_merges_until_the_queue_is_full() -> None:
    outbox, host = Outbox(capacity=64, merge_after=64), SlowHost()

    async def produce() -> None:
        for i in range(50):
            await outbox.event("chat:message:delta", {"content": f"{i},"})

    await run(outbox, host, produce)
    assert decoded(host.received) == [(i + 1, "chat:message:delta", {"content": f"{i},"}) for i in range(50)]
    assert outbox.merged == 0


async def test_deltas_merge_under_pressure_in_order_with_contiguous_seq() -> None:
    outbox, host = Outbox(capacity=8, merge_after=8), SluggishHost()
    emitted: list[tuple[str, Any]] = []

    async def produce() -> None:
        for i in range(300):
            event: tuple[str, Any] = ("chat:message:delta", {"content": f"{i},"})
            if i % 100 == 50:
                event = ("status", {"description": f"at {i}"})
            elif i % 100 == 70:
                event = ("message", {"content": f"m{i};"})
            emitted.append(event)
            await outbox.event(*event)

    await run(outbox, host, produce)
    got = decoded(host.received)
    assert [seq for seq, _, _ in got] == list(range(1, len(got) + 1))
    assert len(got) < len(emitted)
    assert outbox.merged == len(emitted) - len(got)
    # Folding the emitted events the same way gives exactly what the host received.
    folded: list[tuple[str, Any]] = []
    for event_type, data in emitted:
        if folded and folded[-1][0] == event_type and event_type in ("chat:message:delta", "message"):
            folded[-1] = (event_type, {"content": folded[-1][1]["content"] + data["content"]})
        else:
            folded.append((event_type, data))
    received = [(t, d) for _, t, d in got]
    joined: list[tuple[str, Any]] = []
    for event_type, data in received:
        if joined and joined[-1][0] == event_type and event_type in ("chat:message:delta", "message"):
            joined[-1] = (event_type, {"content": joined[-1][1]["content"] + data["content"]})
        else:
            joined.append((event_type, data))
    assert joined == folded


async def test_only_plain_content_deltas_of_one_type_merge() -> None:
    outbox, host = Outbox(capacity=2, merge_after=1), SlowHost()

    async def produce() -> None:
        await outbox.event("chat:message:delta", {"content": "a"})  # taken by the writer
        await anyio.wait_all_tasks_blocked()
        await outbox.event("chat:message:delta", {"content": "b"})
        await outbox.event("chat:message:delta", {"content": "c"})  # merged into b
        async with anyio.create_task_group() as tg:  # queue full: these wait their turn
            tg.start_soon(outbox.event, "chat:message:delta", {"content": "d", "done": True})
            await anyio.wait_all_tasks_blocked()
            host.gate.set()

    await run(outbox, host, produce)
    assert [(t, d) for _, t, d in decoded(host.received)] == [
        ("chat:message:delta", {"content": "a"}),
        ("chat:message:delta", {"content": "bc"}),
        ("chat:message:delta", {"content": "d", "done": True}),
    ]


async def test_the_queue_is_bounded_and_the_producer_waits() -> None:
    outbox, host = Outbox(capacity=3, merge_after=3), SlowHost()
    put = 0

    async def produce() -> None:
        nonlocal put
        async with anyio.create_task_group() as tg:

            async def emit() -> None:
                nonlocal put
                for i in range(10):
                    await outbox.event("status", {"i": i})
                    put += 1

            tg.start_soon(emit)
            await anyio.wait_all_tasks_blocked()
            # One message is with the (stalled) host, three wait: the fifth put blocks.
            assert put == 4
            host.gate.set()

    await run(outbox, host, produce)
    assert [d["i"] for _, _, d in decoded(host.received)] == list(range(10))


async def test_calls_keep_their_place_and_are_never_merged() -> None:
    outbox, host = Outbox(capacity=4, merge_after=1), SlowHost()

    async def produce() -> None:
        await outbox.event("chat:message:delta", {"content": "x"})
        await outbox.call("c1", "confirmation", {"title": "t"}, 5.0)
        await outbox.event("chat:message:delta", {"content": "y"})

    await run(outbox, host, produce)
    kinds = [(type(m).__name__, m.seq) for m in host.received if isinstance(m, Event | Call)]
    assert kinds == [("Event", 1), ("Call", 2), ("Event", 3)]
    call = host.received[1]
    assert isinstance(call, Call)
    assert (call.call_id, call.timeout) == ("c1", 5.0)


async def test_a_broken_host_stream_never_blocks_the_producer() -> None:
    outbox, host = Outbox(capacity=2, merge_after=2), BrokenHost()

    async def produce() -> None:
        for i in range(20):
            await outbox.event("status", {"i": i})

    with anyio.fail_after(5):
        await run(outbox, host, produce)
    assert outbox.broken
