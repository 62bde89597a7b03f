"""The Runtime service: one Invoke stream per invocation.

The handler uses ``context.read()``/``context.write()`` (never the request iterator as
well). Cancellation from grpc.aio (the client went away) arrives as CancelledError: the
invocation kills its worker in a shielded scope and the error is re-raised untouched.
"""

from __future__ import annotations

from typing import Any

import grpc
import structlog

from gateway._proto.airlock.v1 import airlock_pb2 as pb
from gateway._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from gateway.errors import AirlockError, FailedPrecondition, InvalidRequest, ProtocolError
from gateway.invocation import domain
from gateway.invocation.engine import Invocation
from gateway.profiles import ProfileSet
from gateway.registry.service import Registry
from gateway.sandbox.launcher import Launcher
from gateway.servicer import convert
from gateway.servicer.status import code_for

log = structlog.get_logger("airlock.runtime")
Context = grpc.aio.ServicerContext[pb.InvokeRequest, pb.InvokeResponse]


class GrpcHostStream:
    """The host's side of an Invoke stream, in domain types."""

    def __init__(self, context: Context) -> None:
        self._context = context

    async def send(self, message: domain.Outbound) -> None:
        """Write one message to the host."""
        await self._context.write(convert.outbound(message))

    async def receive(self) -> domain.Inbound | None:
        """Read the host's next message (None at the end of its stream)."""
        message = await self._context.read()
        if not isinstance(message, pb.InvokeRequest):  # grpc.aio.EOF
            return None
        return convert.inbound(message)


class RuntimeServicer(pb_grpc.RuntimeServicer):
    """Runs actions."""

    def __init__(self, registry: Registry, profiles: ProfileSet, launcher: Launcher) -> None:
        self._registry = registry
        self._profiles = profiles
        self._launcher = launcher

    async def Invoke(self, request_iterator: Any, context: Context) -> None:  # type: ignore[override]  # noqa: N802
        host = GrpcHostStream(context)
        try:
            invocation = await self._prepare(host)
        except AirlockError as exc:
            log.info("invoke_rejected", error=str(exc))
            await context.abort(code_for(exc), str(exc))
            return
        with structlog.contextvars.bound_contextvars(
            invocation_id=invocation.id,
            function_id=invocation.record.id,
            profile=invocation.profile.name,
            request_id=invocation.start.request_id,
        ):
            log.info("invocation_started", action_id=invocation.start.action_id)
            try:
                result = await invocation.run()
            except BaseException:
                log.info("invocation_abandoned", reason="the client went away")
                raise
            await host.send(result)
            log.info(
                "invocation_finished",
                outcome=result.outcome.name,
                wall_ms=result.usage.wall_ms,
                cpu_ms=result.usage.cpu_ms,
                peak_memory_bytes=result.usage.peak_memory_bytes,
            )
        if invocation.protocol_error is not None:
            error = invocation.protocol_error
            await context.abort(code_for(error), str(error))

    async def _prepare(self, host: GrpcHostStream) -> Invocation:
        first = await host.receive()
        if first is None:
            raise InvalidRequest("the stream ended before a Start message")
        if not isinstance(first, domain.StartRequest):
            raise ProtocolError("the first message of an Invoke stream must be Start")
        record, sub_id = self._registry.resolve_action(first.action_id)
        try:
            profile = self._profiles.resolve(record.profile)
        except AirlockError as exc:
            raise FailedPrecondition(f"function {record.id!r} uses a profile this gateway lacks: {exc}") from None
        if first.timeout is not None and first.timeout > profile.wall_seconds:
            raise InvalidRequest(
                f"Start.timeout of {first.timeout:g} s exceeds wall_seconds={profile.wall_seconds:g} "
                f"of profile {profile.name!r}"
            )
        if first.call_timeout is not None and first.call_timeout > profile.session_seconds:
            raise InvalidRequest(
                f"Start.call_timeout of {first.call_timeout:g} s exceeds session_seconds="
                f"{profile.session_seconds:g} of profile {profile.name!r}"
            )
        return Invocation(
            record=record, sub_id=sub_id, start=first, profile=profile, launcher=self._launcher, host=host
        )
