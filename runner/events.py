"""``__event_emitter__`` and ``__event_call__`` for plugins (runs in the sandbox).

Both take Open WebUI's event shape ``{"type": str, "data": ...}``. A malformed event raises
TypeError at the plugin's own call site, where the plugin author can see it, rather than
breaking the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from runner.channel import Channel

#: Longest event or call type the gateway accepts (gateway/sandbox/frames.py).
MAX_TYPE_CHARS = 256

Emitter = Callable[[Any], Awaitable[None]]
Caller = Callable[[Any], Awaitable[Any]]


def _split(event: Any, name: str) -> tuple[str, Any]:
    if not isinstance(event, Mapping):
        raise TypeError(f"{name} expects a dict like {{'type': ..., 'data': ...}}, got {type(event).__name__}")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise TypeError(f"{name} expects a non-empty string 'type', got {event_type!r}")
    if len(event_type) > MAX_TYPE_CHARS:
        raise TypeError(f"{name}: an event 'type' has at most {MAX_TYPE_CHARS} characters")
    return event_type, event.get("data")


def _not_serialisable(name: str, exc: TypeError) -> TypeError:
    return TypeError(f"{name}: event data is not JSON-serializable ({exc})")


def make_emitter(channel: Channel) -> Emitter:
    """Build the one-way ``__event_emitter__`` bound to ``channel``."""

    async def __event_emitter__(event: Any) -> None:  # noqa: N807 - the name plugins know
        event_type, data = _split(event, "__event_emitter__")
        try:
            channel.send({"op": "event", "type": event_type, "data": data})
        except TypeError as exc:
            raise _not_serialisable("__event_emitter__", exc) from None

    return __event_emitter__


def make_caller(channel: Channel) -> Caller:
    """Build ``__event_call__``: send a request, wait for the host's JSON answer."""

    async def __event_call__(event: Any) -> Any:  # noqa: N807 - the name plugins know
        event_type, data = _split(event, "__event_call__")
        try:
            future = channel.call(event_type, data)
        except TypeError as exc:
            raise _not_serialisable("__event_call__", exc) from None
        return await asyncio.wrap_future(future)

    return __event_call__
