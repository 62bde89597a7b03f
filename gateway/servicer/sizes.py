"""The request size limit, enforced by the gateway so that refusals are its own and counted.

grpc-core can refuse an oversized message itself, but then the handler never learns of it
(a unary handler is not called; ``context.read()`` of a stream just sees the end), so
nothing could count it or name the limit. grpc-core's own limit is set higher
(``hard_limit``); this interceptor measures each message before it is parsed and answers
RESOURCE_EXHAUSTED, naming ``max_message_bytes``, for anything above the configured size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.method_handlers import Behaviour, Continuation, behaviour_of, preceded, rebuild
from gateway.metrics import Metrics


def hard_limit(max_message_bytes: int) -> int:
    """grpc-core's receive limit: beyond ours, so that ours answers first (and stays bounded)."""
    return 2 * max_message_bytes


@dataclass(frozen=True)
class _Oversized:
    """What the deserializer hands on instead of a message larger than the limit."""

    size: int


class _CheckedContext:
    """A servicer context whose ``read()`` refuses oversized messages."""

    def __init__(self, context: Any, refuse: Callable[[Any, _Oversized], Awaitable[None]]) -> None:
        self._context = context
        self._refuse = refuse

    async def read(self) -> Any:
        message = await self._context.read()
        if isinstance(message, _Oversized):
            await self._refuse(self._context, message)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class RequestSizeInterceptor(grpc.aio.ServerInterceptor):
    """Refuses request messages larger than ``limit`` bytes with RESOURCE_EXHAUSTED."""

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self._limit = limit
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler, measuring each request message before it is parsed."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        parse = handler.request_deserializer

        def measured(data: bytes) -> Any:
            if len(data) > self._limit:
                return _Oversized(len(data))
            return parse(data) if parse is not None else data

        return rebuild(handler, self._checked(behaviour_of(handler), handler.request_streaming), measured)

    async def _refuse(self, context: Any, message: _Oversized) -> None:
        self._metrics.rejected.labels("request_too_large").inc()
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"a request message of {message.size} bytes exceeds max_message_bytes={self._limit}",
        )

    def _checked(self, behaviour: Behaviour, streaming: bool) -> Behaviour:
        async def prepare(request: Any, context: Any) -> tuple[Any, Any]:
            if streaming:
                return self._each_checked(request, context), _CheckedContext(context, self._refuse)
            if isinstance(request, _Oversized):
                await self._refuse(context, request)
            return request, context

        return preceded(behaviour, prepare)

    async def _each_checked(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, _Oversized):
                await self._refuse(context, request)
            yield request
