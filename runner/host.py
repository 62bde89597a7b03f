"""Asking the host for what only Open WebUI's server has (runs in the sandbox).

The ``open_webui`` stand-ins (runner/standins) call :func:`request` and :func:`stream`; each
sends a ``host_request`` frame, the gateway turns it into a HostRequest on the invocation's
stream, and the host's HostReply comes back as ``host_reply`` frames. A method the host did
not list in ``Start.host_capabilities`` fails here at once, before anything is sent (the
gateway refuses it as well: this check only saves a round trip and gives a clear message).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from runner.channel import Channel

#: Said in every error, so that a plugin author knows where to look.
_SEE = "see Airlock's docs/COMPATIBILITY.md"


class HostUnavailable(RuntimeError):
    """The host does not answer this Open WebUI internal (or there is no invocation)."""


class HostError(Exception):
    """The host answered with an error (raised as Open WebUI's own function would raise)."""


_channel: Channel | None = None
_capabilities: frozenset[str] = frozenset()


def configure(channel: Channel, capabilities: frozenset[str]) -> None:
    """Make the host's methods available for the job at hand (invocations only)."""
    global _channel, _capabilities  # noqa: PLW0603 - one job per process, set before plugin code runs
    _channel = channel
    _capabilities = capabilities


def _check(method: str, what: str) -> Channel:
    if _channel is None:
        raise HostUnavailable(f"{what} cannot be used while the function is being registered, only when invoked")
    if method not in _capabilities:
        raise HostUnavailable(
            f"{what} is not available: the host running this invocation does not answer {method!r} "
            f"(it is not in Start.host_capabilities); {_SEE}"
        )
    return _channel


def _raise(reply: dict[str, Any], what: str) -> None:
    kind, error = reply.get("kind"), str(reply.get("error"))
    if kind == "timeout":
        raise TimeoutError(f"{what}: {error}")
    if kind == "disconnected":
        raise ConnectionError(f"{what}: {error}")
    if kind == "unavailable":
        raise HostUnavailable(f"{what}: {error}; {_SEE}")
    raise HostError(error)


class _Replies:
    """The replies of one host request, handed from the channel's reader thread to the loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.finished = False

    def put(self, reply: dict[str, Any]) -> None:
        # Runs on the reader thread. A loop that is already closed (the plugin returned and
        # the worker is ending) has nobody to hand the reply to; the reader thread must not
        # die of that, or the worker would exit before its result is read.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, reply)

    async def next(self) -> dict[str, Any]:
        reply = await self._queue.get()
        if not reply.get("more"):
            self.finished = True
        return reply


async def request(method: str, args: dict[str, Any], what: str) -> Any:
    """Ask the host and wait for its one answer; ``what`` names the stand-in in errors."""
    channel = _check(method, what)
    replies = _Replies()
    call_id = channel.host_request(method, args, False, replies.put)
    try:
        reply = await replies.next()
    finally:
        if not replies.finished:
            channel.abandon_host_request(call_id)
    if "error" in reply:
        _raise(reply, what)
    return reply.get("value")


def stream(method: str, args: dict[str, Any], what: str) -> AsyncIterator[Any]:
    """Ask the host for a streamed answer now; iterate the result for its chunks as they come."""
    channel = _check(method, what)
    replies = _Replies()
    call_id = channel.host_request(method, args, True, replies.put)
    return _chunks(channel, call_id, replies, what)


async def _chunks(channel: Channel, call_id: str, replies: _Replies, what: str) -> AsyncIterator[Any]:
    try:
        while True:
            reply = await replies.next()
            if "error" in reply:
                _raise(reply, what)
            if reply.get("value") is not None:
                yield reply["value"]
            if replies.finished:
                return
    finally:
        # The plugin stopped reading early (break, an exception, cancellation).
        if not replies.finished:
            channel.abandon_host_request(call_id)
