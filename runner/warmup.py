"""Touch, before the job arrives, what every job touches first (runs in the sandbox).

A worker forked from the zygote shares the zygote's memory until it writes to it, and
CPython writes to nearly everything it uses (reference counts): the first job in a fresh
fork pays thousands of copy-on-write page faults, plus the lazy set-up of the event loop,
threads and pydantic. A warm worker does that work while it waits in the pool, so that
the job does not. Only the runner's own code runs here, after confinement and before any
plugin code; nothing of it is left behind for the plugin to see.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
from typing import Any

import orjson
import pydantic

from runner import failure, wire

_SOURCE = """
from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="warm-up")
        note: str = ""

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__=None, __event_emitter__=None):
        await __event_emitter__({"type": "status", "data": {"description": "x", "done": True}})
        return {"body": body, "valves": self.valves.model_dump()}
"""


async def _exercise(instance: Any) -> Any:
    sent: list[bytes] = []

    async def emit(event: Any) -> None:
        sent.append(wire.encode({"op": "event", **event}))

    instance.valves = instance.Valves(priority=1)
    inspect.signature(instance.action)
    task = asyncio.ensure_future(instance.action({"messages": []}, __event_emitter__=emit))
    for _ in range(3):
        await asyncio.sleep(0)
    return await task


def run() -> None:
    """Load and run a built-in action once, then drop every trace of it."""
    module = types.ModuleType("airlock_warm_up")
    exec(compile(_SOURCE, "<warm-up>", "exec"), module.__dict__)  # noqa: S102 - the runner's own source
    try:
        value = asyncio.run(_exercise(module.Action()))
        orjson.loads(wire.encode({"op": "result", "ok": True, "value": value})[wire.HEADER.size :])
        failure.describe(ValueError("warm-up"), "<warm-up>")
        pydantic.TypeAdapter(dict[str, Any]).validate_python({"x": 1})
    finally:
        module.__dict__.clear()
        sys.modules.pop("airlock_warm_up", None)
