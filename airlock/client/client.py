"""AirlockClient: the Registry and Runtime services behind plain Python calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from airlock import convert
from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.client.host import HostHandler
from airlock.client.invocation import CallHandler, InvocationStream
from airlock.domain import invocation as domain
from airlock.domain.functions import ActionButton, FunctionRecord
from airlock.domain.progress import Progress
from runner import exact_json


class AirlockClient:
    """A connection to one gateway. Errors are ``grpc.aio.AioRpcError`` with the gateway's message."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: list[tuple[str, Any]] | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        """Connect to ``target`` (``HOST:PORT`` or ``unix:PATH``).

        ``token`` is sent as ``authorization: Bearer`` on every call; ``credentials``
        (``grpc.ssl_channel_credentials``, with a client key and certificate for mTLS) make the
        channel TLS. ``options`` are channel arguments (e.g. ``grpc.ssl_target_name_override``).
        """
        if channel is None:
            if credentials is None:
                channel = grpc.aio.insecure_channel(target, options=options)
            else:
                channel = grpc.aio.secure_channel(target, credentials, options=options)
        self._channel = channel
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self._registry = pb_grpc.RegistryStub(self._channel)
        self._runtime = pb_grpc.RuntimeStub(self._channel)

    async def __aenter__(self) -> AirlockClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def health(self, service: str = "") -> str:
        """The gateway's health status (``SERVING``, ``NOT_SERVING``, ...) for ``service``."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), metadata=self._metadata)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def put_function(
        self,
        function_id: str,
        source: str,
        *,
        profile: str = "",
        is_active: bool = True,
        is_global: bool = False,
        model_ids: Iterable[str] = (),
        valves: dict[str, Any] | None = None,
    ) -> FunctionRecord:
        """Create or replace a function (its requirements installed and its source loaded in a worker first)."""
        request = _put_request(function_id, source, profile, is_active, is_global, model_ids, valves)
        return convert.function_from_proto(await self._registry.PutFunction(request, metadata=self._metadata))

    async def put_function_with_progress(
        self,
        function_id: str,
        source: str,
        *,
        profile: str = "",
        is_active: bool = True,
        is_global: bool = False,
        model_ids: Iterable[str] = (),
        valves: dict[str, Any] | None = None,
    ) -> AsyncIterator[Progress | FunctionRecord]:
        """``put_function`` that yields each Progress as it happens, then the stored FunctionRecord."""
        request = _put_request(function_id, source, profile, is_active, is_global, model_ids, valves)
        call = self._registry.PutFunctionWithProgress(request, metadata=self._metadata)
        try:
            async for message in call:
                if message.HasField("function"):
                    yield convert.function_from_proto(message.function)
                else:
                    yield convert.put_progress_from_proto(message.progress)
        finally:
            call.cancel()  # a caller that stops early ends the stream (no-op once it is done)

    async def get_function(self, function_id: str) -> FunctionRecord:
        """One function, source included."""
        return convert.function_from_proto(
            await self._registry.GetFunction(pb.GetFunctionRequest(id=function_id), metadata=self._metadata)
        )

    async def list_functions(self, kind: str = "") -> list[FunctionRecord]:
        """All functions (of one kind), without their sources."""
        response = await self._registry.ListFunctions(pb.ListFunctionsRequest(kind=kind), metadata=self._metadata)
        return [convert.function_from_proto(f) for f in response.functions]

    async def delete_function(self, function_id: str) -> str:
        """Delete a function; returns its id."""
        response = await self._registry.DeleteFunction(
            pb.DeleteFunctionRequest(id=function_id), metadata=self._metadata
        )
        return response.id

    async def update_valves(self, function_id: str, valves: dict[str, Any]) -> FunctionRecord:
        """Replace the admin valves (validated by the function's Valves model)."""
        request = pb.UpdateValvesRequest(id=function_id, valves_json=exact_json.dumps(valves))
        return convert.function_from_proto(await self._registry.UpdateValves(request, metadata=self._metadata))

    async def list_actions(self, model_id: str) -> list[ActionButton]:
        """A model's action buttons in display order."""
        response = await self._registry.ListActions(pb.ListActionsRequest(model_id=model_id), metadata=self._metadata)
        return [convert.action_button_from_proto(b) for b in response.actions]

    def invoke(
        self,
        action_id: str,
        *,
        body: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
        user_valves: dict[str, Any] | None = None,
        valves: dict[str, Any] | None = None,
        model: Any = None,
        request: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        request_id: str = "",
        timeout: float | None = None,
        call_timeout: float | None = None,
        on_call: CallHandler | None = None,
        host: Mapping[str, HostHandler] | None = None,
    ) -> InvocationStream:
        """Open an invocation; use it as ``async with`` and iterate it.

        ``host`` maps host request methods (``generate_chat_completion``,
        ``users.get_user_by_id``, ...) to handlers (airlock.client.host); they are the
        capabilities advertised in Start. ``valves`` replace the stored admin valves for
        this invocation (Start.valves_json).
        """
        return self.open_invocation(
            domain.StartRequest(
                action_id=action_id,
                body=body or {},
                user=user or {},
                user_valves=user_valves or {},
                model=model,
                request=request or {},
                metadata=metadata or {},
                request_id=request_id,
                call_timeout=call_timeout,
                timeout=timeout,
                host_capabilities=frozenset(host or ()),
                valves=valves,
            ),
            on_call,
            host,
        )

    def open_invocation(
        self,
        start: domain.StartRequest,
        on_call: CallHandler | None = None,
        host: Mapping[str, HostHandler] | None = None,
    ) -> InvocationStream:
        """Open an invocation from a prepared StartRequest (what ``invoke`` builds)."""
        return InvocationStream(self._runtime.Invoke(metadata=self._metadata), start, on_call, host)


def _put_request(  # noqa: PLR0917 - the request's fields, in its order
    function_id: str,
    source: str,
    profile: str,
    is_active: bool,
    is_global: bool,
    model_ids: Iterable[str],
    valves: dict[str, Any] | None,
) -> pb.PutFunctionRequest:
    return pb.PutFunctionRequest(
        id=function_id,
        source=source,
        profile=profile,
        is_active=is_active,
        is_global=is_global,
        model_ids=list(model_ids),
        valves_json=exact_json.dumps(valves) if valves is not None else b"",
    )
