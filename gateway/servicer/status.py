"""The one table from Airlock errors to gRPC status codes."""

from __future__ import annotations

import grpc

from gateway import errors

_CODES: dict[type[errors.AirlockError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ProtocolError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.WorkerFailed: grpc.StatusCode.UNAVAILABLE,
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
