"""Test helpers: drain an invocation and validate the stream's invariants on the way."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from airlock.client import AirlockClient, Call, Event, HostRequest, Result, Started
from airlock.client.invocation import CallHandler
from tests.conftest import plugin_source


@dataclass
class Drained:
    """Everything one invocation sent, after its invariants were checked."""

    started: Started
    result: Result
    events: list[Event] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    host_requests: list[HostRequest] = field(default_factory=list)
    messages: list[Event | Call | HostRequest] = field(default_factory=list)

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
    assert all(isinstance(m, Event | Call | HostRequest) for m in middle), middle
    assert [m.seq for m in middle] == list(range(1, len(middle) + 1)), "seq must be contiguous from 1"
    return Drained(
        started=received[0],
        result=received[-1],
        events=[m for m in middle if isinstance(m, Event)],
        calls=[m for m in middle if isinstance(m, Call)],
        host_requests=[m for m in middle if isinstance(m, HostRequest)],
        messages=middle,
    )


async def register(client: AirlockClient, name: str, function_id: str | None = None, **kw: Any) -> str:
    """Register tests/plugins/<name>.py and return its id."""
    record = await client.put_function(function_id or name, plugin_source(name), **kw)
    return record.id


def sandbox_alive(sandbox: str) -> bool:
    """True while a live process of this sandbox exists ("pid:[inode]@start of its PID 1").

    A sandbox reports its identity from inside; the test looks for it from outside, in the
    kernel's own process table, so nothing the sandbox says can fake the answer. The start
    time of the namespace's PID 1 tells apart a later sandbox whose namespace got the same
    (reused) number. A zombie (dead, only its exit status left for a parent to collect)
    does not count: it runs nothing and holds nothing but its pid.
    """
    namespace, _, started = sandbox.partition("@")
    found = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace or zombie(int(entry)):
                continue
            status = Path(f"/proc/{entry}/status").read_text()
            nspid = next(line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:"))
            if started and nspid == "1" and _start_time(int(entry)) != started:
                return False  # a newer sandbox with the same namespace number
        except (OSError, StopIteration):
            continue  # exited meanwhile
        found = True
    return found


async def sandbox_gone(sandbox: str, within: float = 5.0) -> bool:
    """True once no process of the sandbox is left, waiting up to ``within`` seconds.

    The Result arrives once the sandbox has been killed and its plugin processes are gone;
    the kernel finishes tearing down its PID 1 and namespaces right after.
    """
    return await eventually(lambda: not sandbox_alive(sandbox), within)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """True once ``condition()`` holds, checking every 10 ms for up to ``within`` seconds.

    It sleeps on the event loop, never blocking it: the gateway under test runs on the same
    loop and must go on tearing the sandbox down while the test waits.
    """
    with anyio.move_on_after(within):
        while not condition():  # noqa: ASYNC110 - polls the kernel (/proc), which signals nothing
            await anyio.sleep(0.01)
        return True
    return condition()


def _start_time(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[19]


def zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "Z"
