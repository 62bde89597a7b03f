"""One invocation seen from the host: an async iterator of Started, Event, Call, Result."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import grpc

from airlock import convert
from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.client.host import HostHandler
from airlock.client.host import answer as answer_host_request
from airlock.domain import invocation as domain
from runner import exact_json

#: Answers a call: return the JSON value ``__event_call__`` should return in the plugin.
CallHandler = Callable[[domain.Call], Awaitable[Any] | Any]


class InvocationStream:
    """An open Invoke stream.

    Iterate it for messages in order. Answer calls with :meth:`reply` (or pass ``on_call``
    to :meth:`AirlockClient.invoke` to answer them automatically; they are still yielded).
    Host requests are answered by the ``host`` handlers (airlock.client.host), each in its
    own task, and yielded too; without a handler, answer them with :meth:`host_reply`.
    """

    def __init__(
        self,
        call: grpc.aio.StreamStreamCall[pb.InvokeRequest, pb.InvokeResponse],
        start: domain.StartRequest,
        on_call: CallHandler | None,
        host: Mapping[str, HostHandler] | None = None,
    ) -> None:
        self._call = call
        self._start = start
        self._on_call = on_call
        self._host = dict(host or {})
        self._answering: set[asyncio.Task[None]] = set()
        self.started: domain.Started | None = None
        self.result: domain.Result | None = None
        # reply() and cancel() may come from other tasks than the reader; gRPC allows one
        # write in flight per call.
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> InvocationStream:
        await self._call.write(pb.InvokeRequest(start=convert.start_to_proto(self._start)))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.result is None:
            self._call.cancel()
        for task in self._answering:
            task.cancel()
        if self._answering:
            await asyncio.wait(self._answering)

    def __aiter__(self) -> AsyncIterator[domain.Outbound]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[domain.Outbound]:
        while self.result is None:
            response = await self._call.read()
            if response is grpc.aio.EOF:
                # The server always ends with a Result or a status error; read() raised if
                # it was an error, so this is a server that broke its contract.
                raise RuntimeError("the Invoke stream ended without a Result")
            assert isinstance(response, pb.InvokeResponse)
            message = convert.outbound_from_proto(response)
            if isinstance(message, domain.Started):
                self.started = message
            elif isinstance(message, domain.Result):
                self.result = message
                async with self._write_lock:
                    await self._call.done_writing()
            yield message
            if isinstance(message, domain.Call) and self._on_call is not None:
                answer = self._on_call(message)
                if inspect.isawaitable(answer):
                    answer = await answer
                await self.reply(message.call_id, answer)
            elif isinstance(message, domain.HostRequest) and message.method in self._host:
                task = asyncio.create_task(
                    answer_host_request(message, self._host[message.method], self._write_host_reply)
                )
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)

    async def reply(self, call_id: str, value: Any) -> None:
        """Answer a call; ``value`` is what the plugin's ``__event_call__`` returns."""
        reply = pb.CallReply(call_id=call_id, value_json=exact_json.dumps(value))
        async with self._write_lock:
            await self._call.write(pb.InvokeRequest(call_reply=reply))

    async def host_reply(self, request_id: str, value: Any = None, *, error: str = "", more: bool = False) -> None:
        """Answer a host request (or send one chunk of a streamed answer, ``more=True``)."""
        reply = pb.HostReply(request_id=request_id, value_json=exact_json.dumps(value), error=error, more=more)
        await self._write_host_reply(reply)

    async def _write_host_reply(self, reply: pb.HostReply) -> None:
        async with self._write_lock:
            if self.result is None:  # after the Result the stream is half-closed: nobody waits
                await self._call.write(pb.InvokeRequest(host_reply=reply))

    async def cancel(self, reason: str = "") -> None:
        """Ask the gateway to stop the invocation; a Result(CANCELLED) follows."""
        async with self._write_lock:
            await self._call.write(pb.InvokeRequest(cancel=pb.Cancel(reason=reason)))

    async def wait(self) -> domain.Result:
        """Consume the remaining messages and return the Result."""
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
