"""Answering host requests: the Open WebUI internals a plugin asks its host for.

A host passes ``host={method: handler}`` to :meth:`AirlockClient.invoke`; the methods become
``Start.host_capabilities`` and each HostRequest is answered by its handler in a task of its
own, so that a slow answer (a chat completion) never holds up events, calls or other
requests. A handler gets the :class:`HostRequest` and returns the JSON value (it may be a
coroutine); for a streamed request (``request.stream``) it may return an async iterable of
chunks instead. An exception becomes ``HostReply.error`` (``"<type>: <message>"``), which the
plugin sees raised.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.domain.invocation import HostRequest
from runner import exact_json

#: Answers one host request: a JSON value, or (streamed requests) an async iterable of chunks.
HostHandler = Callable[[HostRequest], Awaitable[Any] | AsyncIterable[Any] | Any]
#: Writes one HostReply on the invocation's stream.
ReplyWriter = Callable[[pb.HostReply], Awaitable[None]]


async def answer(request: HostRequest, handler: HostHandler, write: ReplyWriter) -> None:
    """Run ``handler`` for ``request`` and write its answer (or its failure) as HostReply messages."""
    request_id = request.request_id
    try:
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, AsyncIterable):
            if not request.stream:
                raise TypeError("the handler returned chunks for a request that is not streamed")
            async for chunk in result:
                await write(pb.HostReply(request_id=request_id, value_json=exact_json.dumps(chunk), more=True))
            await write(pb.HostReply(request_id=request_id))
            return
        value_json = exact_json.dumps(result)
    except Exception as exc:  # noqa: BLE001 - the plugin gets the failure, the host stays up
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await write(pb.HostReply(request_id=request_id, error=message))
        return
    await write(pb.HostReply(request_id=request_id, value_json=value_json))


def records(method: str, by_id: Mapping[str, Any]) -> dict[str, HostHandler]:
    """A handler answering a ``*.get_*_by_id`` method from fixed records (None when unknown)."""

    def lookup(request: HostRequest) -> Any:
        return by_id.get(str(request.args.get("id")))

    return {method: lookup}
