"""Rebuilding a gRPC method handler around a new behaviour (what the server's interceptors need).

grpc.aio decides how to drive a handler from its kind (unary or streaming on each side) and
from whether its behaviour is a coroutine function or an async generator function, so the
wrapper keeps both the kind and the shape of the behaviour it replaces.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Behaviour = Callable[[Any, Any], Any]
#: What grpc.aio passes an interceptor to get the method's handler (None: unknown method).
#: (A string inside: grpc's classes are generic only in the type stubs.)
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]]
#: Runs before a behaviour: may abort the RPC, or hand on another request or context.
Prepare = Callable[[Any, Any], Awaitable[tuple[Any, Any]]]


def behaviour_of(handler: grpc.RpcMethodHandler[Any, Any]) -> Behaviour:
    """The function grpc.aio calls for ``handler``'s kind of RPC."""
    if handler.request_streaming and handler.response_streaming:
        return handler.stream_stream  # type: ignore[return-value]
    if handler.request_streaming:
        return handler.stream_unary  # type: ignore[return-value]
    if handler.response_streaming:
        return handler.unary_stream  # type: ignore[return-value]
    return handler.unary_unary  # type: ignore[return-value]


def is_generator(behaviour: Behaviour) -> bool:
    """Whether ``behaviour`` yields its responses (else it is a coroutine function)."""
    return inspect.isasyncgenfunction(behaviour)


def preceded(behaviour: Behaviour, prepare: Prepare) -> Behaviour:
    """``behaviour`` run after ``prepare(request, context)``, keeping its shape (coroutine or generator)."""
    if is_generator(behaviour):

        async def generate(request: Any, context: Any) -> AsyncIterator[Any]:
            request, context = await prepare(request, context)
            async for response in behaviour(request, context):
                yield response

        return generate

    async def call(request: Any, context: Any) -> Any:
        request, context = await prepare(request, context)
        return await behaviour(request, context)

    return call


def rebuild(
    handler: grpc.RpcMethodHandler[Any, Any],
    behaviour: Behaviour,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind and serializers as ``handler`` that runs ``behaviour``."""
    make: Any
    if handler.request_streaming and handler.response_streaming:
        make = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        make = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    rebuilt: grpc.RpcMethodHandler[Any, Any] = make(
        behaviour,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    return rebuilt


def split_method(full_method: str) -> tuple[str, str]:
    """``("airlock.v1.Runtime", "Invoke")`` of ``/airlock.v1.Runtime/Invoke``."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method
