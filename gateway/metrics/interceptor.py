"""The standard gRPC server metrics, from a grpc.aio interceptor.

py-grpc-prometheus only supports the thread-pool server; these are the same families and
labels (``grpc_type``, ``grpc_service``, ``grpc_method``, ``grpc_code``), so existing
dashboards and alerts work unchanged. Messages are counted where handlers read and write
them: request iterators, yielded responses, and ``context.read()``/``context.write()``
(Runtime.Invoke uses the latter).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from gateway.method_handlers import Behaviour, Continuation, behaviour_of, is_generator, rebuild, split_method
from gateway.metrics.families import Metrics

_TYPES = {
    (False, False): "UNARY",
    (True, False): "CLIENT_STREAM",
    (False, True): "SERVER_STREAM",
    (True, True): "BIDI_STREAM",
}
_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def status_name(context: Any, error: BaseException | None) -> str:
    """The status code an RPC ended with, as its name (``OK``, ``RESOURCE_EXHAUSTED``, ...)."""
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    if isinstance(code, int):
        code = _CODES_BY_VALUE.get(code)
    if isinstance(code, grpc.StatusCode):
        return code.name
    if error is not None and not isinstance(error, grpc.aio.AbortError):
        return "UNKNOWN"  # grpc.aio reports an exception escaping a handler as UNKNOWN
    return "OK"


class _CountingContext:
    """A servicer context that counts the messages read and written through it."""

    def __init__(self, context: Any, received: Callable[[], None], sent: Callable[[], None]) -> None:
        self._context = context
        self._received = received
        self._sent = sent

    async def read(self) -> Any:
        message = await self._context.read()
        if message is not grpc.aio.EOF:
            self._received()
        return message

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._sent()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC of the server it is installed on (install it first)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler, wrapped to count its messages and time its status."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # unknown method: grpc answers UNIMPLEMENTED itself
        service, method = split_method(handler_call_details.method)
        kind = _TYPES[(handler.request_streaming, handler.response_streaming)]
        return rebuild(handler, self._measured(behaviour_of(handler), handler, (kind, service, method)))

    def _measured(
        self, behaviour: Behaviour, handler: grpc.RpcMethodHandler[Any, Any], names: tuple[str, ...]
    ) -> Behaviour:
        m = self._metrics
        received = m.grpc_received.labels(*names).inc
        sent = m.grpc_sent.labels(*names).inc
        streaming_in, streaming_out = handler.request_streaming, handler.response_streaming

        def begin(request: Any, context: Any) -> tuple[Any, Any, float]:
            m.grpc_started.labels(*names).inc()
            if streaming_in:
                request = _counted(request, received)
            else:
                received()
            return request, _CountingContext(context, received, sent), time.perf_counter()

        def end(context: Any, began: float, error: BaseException | None) -> None:
            m.grpc_handled.labels(*names, status_name(context, error)).inc()
            m.grpc_handling.labels(*names).observe(time.perf_counter() - began)

        if is_generator(behaviour):

            async def generate(request: Any, context: Any) -> AsyncIterator[Any]:
                request, counting, began = begin(request, context)
                error: BaseException | None = None
                try:
                    async for response in behaviour(request, counting):
                        sent()
                        yield response
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    end(context, began, error)

            return generate

        async def call(request: Any, context: Any) -> Any:
            request, counting, began = begin(request, context)
            error: BaseException | None = None
            try:
                response = await behaviour(request, counting)
                if not streaming_out:
                    sent()
                return response
            except BaseException as exc:
                error = exc
                raise
            finally:
                end(context, began, error)

        return call


async def _counted(requests: AsyncIterator[Any], received: Callable[[], None]) -> AsyncIterator[Any]:
    async for request in requests:
        received()
        yield request
