"""The one table from Airlock errors to gRPC status codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import errors

_CODES: dict[type[errors.AirlockError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ProtocolError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.WorkerFailed: grpc.StatusCode.UNAVAILABLE,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.ProfileError: grpc.StatusCode.FAILED_PRECONDITION,
}


def code_for(exc: errors.AirlockError) -> grpc.StatusCode:
    """The status code for ``exc`` (its nearest mapped class)."""
    if isinstance(exc, errors.ProtocolError) and exc.invalid_argument:
        return grpc.StatusCode.INVALID_ARGUMENT
    for cls in type(exc).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.INTERNAL


def trailers_for(exc: errors.AirlockError) -> tuple[tuple[str, str | bytes], ...]:
    """Trailing metadata beyond the status: a retry hint for admission refusals.

    The hint goes out twice, for two kinds of client: ``google.rpc.RetryInfo`` in the
    rich status details (what grpcio-status and Google client libraries read), and
    ``grpc-retry-pushback-ms``, which gRPC's built-in retry policy honours.
    """
    if not isinstance(exc, errors.Overloaded):
        return ()
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromTimedelta(timedelta(seconds=exc.retry_after))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=str(exc), details=[detail])
    return (
        (rpc_status.GRPC_DETAILS_METADATA_KEY, status.SerializeToString()),
        ("grpc-retry-pushback-ms", str(int(exc.retry_after * 1000))),
    )


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: errors.AirlockError) -> NoReturn:
    """End the RPC with ``exc``'s status code, message and trailers."""
    await context.abort(code_for(exc), str(exc), trailers_for(exc))
    raise AssertionError("unreachable: abort raises")
