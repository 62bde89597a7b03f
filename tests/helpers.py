"""Test helpers: drain an invocation and validate the stream's invariants on the way."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gateway.client import AirlockClient, Call, Event, Result, Started
from gateway.client.invocation import CallHandler
from tests.conftest import plugin_source


@dataclass
class Drained:
    """Everything one invocation sent, after its invariants were checked."""

    started: Started
    result: Result
    events: list[Event] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    messages: list[Event | Call] = field(default_factory=list)

    def event_pairs(self) -> list[tuple[str, Any]]:
        """(type, data) of every event, in order."""
        return [(e.type, e.data) for e in self.events]


async def drain(client: AirlockClient, action_id: str, on_call: CallHandler | None = None, **kw: Any) -> Drained:
    """Run one invocation to its end; assert Started first, seq 1..N, exactly one Result last."""
    received: list[Any] = []
    async with client.invoke(action_id, on_call=on_call, **kw) as invocation:
        received = [m async for m in invocation]
    return check(received)


def check(received: list[Any]) -> Drained:
    """Validate a received message list and split it up."""
    assert received, "no messages"
    assert isinstance(received[0], Started), received[0]
    assert isinstance(received[-1], Result), received[-1]
    assert sum(isinstance(m, Started) for m in received) == 1
    assert sum(isinstance(m, Result) for m in received) == 1
    middle = received[1:-1]
    assert all(isinstance(m, Event | Call) for m in middle), middle
    assert [m.seq for m in middle] == list(range(1, len(middle) + 1)), "seq must be contiguous from 1"
    return Drained(
        started=received[0],
        result=received[-1],
        events=[m for m in middle if isinstance(m, Event)],
        calls=[m for m in middle if isinstance(m, Call)],
        messages=middle,
    )


async def register(client: AirlockClient, name: str, function_id: str | None = None, **kw: Any) -> str:
    """Register tests/plugins/<name>.py and return its id."""
    record = await client.put_function(function_id or name, plugin_source(name), **kw)
    return record.id


def sandbox_alive(pid_namespace: str) -> bool:
    """True while any process of the host is in this pid namespace ("pid:[inode]").

    A sandbox reports its namespace from inside; the test looks for it from outside, in the
    kernel's own process table, so nothing the sandbox says can fake the answer.
    """
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == pid_namespace:
                    return True
            except OSError:
                continue  # exited meanwhile
    return False
