"""The Registry service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import grpc
import structlog

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.domain.progress import Progress
from gateway.auth import current_role
from gateway.errors import AirlockError
from gateway.registry.service import Registry
from gateway.servicer import convert
from gateway.servicer.status import abort

log = structlog.get_logger("airlock.registry")
R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]


def maps_errors(handler: Handler[R]) -> Handler[R]:
    """Turn AirlockError into the status code of the one table, with its message."""

    @wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        try:
            return await handler(self, request, context)
        except AirlockError as exc:
            log.info("request_rejected", method=handler.__name__, error=str(exc))
            await abort(context, exc)

    return wrapper


def _for_caller(message: pb.Function) -> pb.Function:
    """``message`` without the admin valves unless the caller is an admin (they hold API keys)."""
    if current_role.get() != "admin":
        message.ClearField("valves_json")
    return message


class RegistryServicer(pb_grpc.RegistryServicer):
    """Admin writes and reads of registered functions."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @maps_errors
    async def PutFunction(self, request: pb.PutFunctionRequest, context: Any) -> pb.Function:  # noqa: N802
        record = await self._registry.put(convert.put_request(request))
        log.info("function_put", function_id=record.id, kind=record.kind, sha256=record.sha256)
        return convert.function(record)

    @maps_errors
    async def PutFunctionWithProgress(  # type: ignore[override]  # noqa: N802
        self, request: pb.PutFunctionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """PutFunction, writing each stage as it happens and the Function last.

        Written with ``context.write`` from this coroutine (no generator): a failure then
        aborts the stream with the same status the unary PutFunction would give.
        """

        async def report(progress: Progress) -> None:
            await context.write(convert.put_progress(progress))

        record = await self._registry.put(convert.put_request(request), report)
        log.info("function_put", function_id=record.id, kind=record.kind, sha256=record.sha256)
        await context.write(pb.PutFunctionProgress(function=convert.function(record)))

    @maps_errors
    async def GetFunction(self, request: pb.GetFunctionRequest, context: Any) -> pb.Function:  # noqa: N802
        return _for_caller(convert.function(self._registry.get(request.id)))

    @maps_errors
    async def ListFunctions(  # noqa: N802
        self, request: pb.ListFunctionsRequest, context: Any
    ) -> pb.ListFunctionsResponse:
        records = self._registry.list_functions(request.kind)
        return pb.ListFunctionsResponse(
            functions=[_for_caller(convert.function(r, with_source=False)) for r in records]
        )

    @maps_errors
    async def DeleteFunction(  # noqa: N802
        self, request: pb.DeleteFunctionRequest, context: Any
    ) -> pb.DeleteFunctionResponse:
        record = await self._registry.delete(request.id)
        log.info("function_deleted", function_id=record.id)
        return pb.DeleteFunctionResponse(id=record.id)

    @maps_errors
    async def UpdateValves(self, request: pb.UpdateValvesRequest, context: Any) -> pb.Function:  # noqa: N802
        record = await self._registry.update_valves(request.id, convert.valves(request.valves_json))
        log.info("valves_updated", function_id=record.id)
        return convert.function(record)

    @maps_errors
    async def ListActions(self, request: pb.ListActionsRequest, context: Any) -> pb.ListActionsResponse:  # noqa: N802
        buttons = self._registry.list_actions(request.model_id)
        return pb.ListActionsResponse(actions=[convert.action_button(b) for b in buttons])
