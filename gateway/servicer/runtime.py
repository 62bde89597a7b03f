"""The Runtime service: one Invoke stream per invocation.

The handler uses ``context.read()``/``context.write()`` (never the request iterator as
well). Cancellation from grpc.aio (the client went away) arrives as CancelledError: the
invocation kills its worker in a shielded scope and the error is re-raised untouched.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
import grpc
import structlog

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock._proto.airlock.v1 import airlock_pb2_grpc as pb_grpc
from airlock.domain import invocation as domain
from gateway.admission import Admission, user_key
from gateway.errors import AirlockError, DeadlineExceeded, FailedPrecondition, InvalidRequest, ProtocolError
from gateway.invocation.engine import Invocation
from gateway.invocation.host_stream import MessageTooLarge
from gateway.metrics import Metrics
from gateway.profiles import ProfileSet
from gateway.registry.service import Registry
from gateway.sandbox.launcher import Launcher
from gateway.servicer import convert
from gateway.servicer.status import abort

#: How long a refused stream waits for the client's Start before ending (see Invoke).
_FIRST_MESSAGE_WAIT_SECONDS = 1.0

log = structlog.get_logger("airlock.runtime")
#: GatewayConfig's default max_message_bytes (8 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
Context = grpc.aio.ServicerContext[pb.InvokeRequest, pb.InvokeResponse]


class GrpcHostStream:
    """The host's side of an Invoke stream, in domain types."""

    def __init__(self, context: Context, max_message_bytes: int) -> None:
        self._context = context
        self._limit = max_message_bytes

    async def send(self, message: domain.Outbound) -> None:
        """Write one message to the host; MessageTooLarge (nothing written) past max_message_bytes."""
        response = convert.outbound(message)
        size = response.ByteSize()
        if size > self._limit:
            raise MessageTooLarge(size, self._limit)
        await self._context.write(response)

    async def receive(self) -> domain.Inbound | None:
        """Read the host's next message (None at the end of its stream)."""
        message = await self._context.read()
        if not isinstance(message, pb.InvokeRequest):  # grpc.aio.EOF
            return None
        return convert.inbound(message)


class RuntimeServicer(pb_grpc.RuntimeServicer):
    """Runs actions: admission, one Invocation per stream, metrics and one summary log line each."""

    def __init__(
        self,
        registry: Registry,
        profiles: ProfileSet,
        launcher: Launcher,
        *,
        admission: Admission,
        metrics: Metrics,
        first_message_timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._registry = registry
        #: The largest message sent to a host (grpc.max_send_message_length).
        self._max_message_bytes = max_message_bytes
        self._profiles = profiles
        self._launcher = launcher
        self._admission = admission
        self._metrics = metrics
        self._first_message_timeout = first_message_timeout
        #: Invocations running now, for the drain to cancel.
        self._running: set[Invocation] = set()

    def cancel_all(self, reason: str) -> int:
        """End every running invocation as CANCELLED with ``reason``; how many there were."""
        for invocation in list(self._running):
            invocation.cancel(reason, "GatewayShutdown")
        return len(self._running)

    async def Invoke(self, request_iterator: Any, context: Context) -> None:  # type: ignore[override]  # noqa: N802
        host = GrpcHostStream(context, self._max_message_bytes)
        refused_unread = True
        try:
            self._admission.refuse_if_draining()
            with self._admission.stream():
                refused_unread = False
                invocation, user = await self._prepare(host)
                with self._admission.invocation(user, invocation.profile.name):
                    self._running.add(invocation)
                    try:
                        await self._run(invocation, host, user)
                    finally:
                        self._running.discard(invocation)
        except AirlockError as exc:
            log.info("invoke_rejected", error=str(exc))
            if refused_unread:
                # Refused (draining, too many streams) before the Start was read: a client that
                # writes its Start at once would race the end of the call, which grpc-aio
                # reports to it as INTERNAL, hiding this status. Let the Start arrive first.
                with anyio.move_on_after(_FIRST_MESSAGE_WAIT_SECONDS), contextlib.suppress(Exception):
                    await context.read()
            await abort(context, exc)
        if invocation.protocol_error is not None:
            await abort(context, invocation.protocol_error)

    async def _run(self, invocation: Invocation, host: GrpcHostStream, user: str) -> None:
        with structlog.contextvars.bound_contextvars(
            invocation_id=invocation.id,
            function_id=invocation.record.id,
            profile=invocation.profile.name,
            request_id=invocation.start.request_id,
        ):
            log.debug("invocation_started", action_id=invocation.start.action_id)
            began = time.monotonic()
            result: domain.Result | None = None
            try:
                result = _fitted(await invocation.run(), self._max_message_bytes)
                await host.send(result)
            finally:
                # One summary line and one set of samples per invocation, however it ended;
                # never the valves, the body or the events (they may hold secrets).
                seconds = time.monotonic() - began
                usage = result.usage if result is not None and invocation.ran_sandbox else None
                self._metrics.finished(
                    function=invocation.record.id,
                    profile=invocation.profile.name,
                    outcome=result.outcome if result is not None else None,
                    seconds=seconds,
                    queue_wait=invocation.queue_wait,
                    usage=usage,
                )
                log.info(
                    "invocation",
                    outcome=result.outcome.name if result is not None else "ABANDONED",
                    # ClientGone: the host's stream ended or was cancelled before the Result.
                    error_type=(result.error_type or None) if result is not None else "ClientGone",
                    action_id=invocation.start.action_id,
                    user_id=user,
                    duration_ms=int(seconds * 1000),
                    queue_wait_ms=None if invocation.queue_wait is None else int(invocation.queue_wait * 1000),
                    cpu_ms=usage.cpu_ms if usage else None,
                    peak_memory_bytes=usage.peak_memory_bytes if usage else None,
                    events=invocation.events,
                    calls=invocation.calls,
                )

    async def _prepare(self, host: GrpcHostStream) -> tuple[Invocation, str]:
        with anyio.move_on_after(self._first_message_timeout) as waited:
            first = await host.receive()
        if waited.cancelled_caught:
            self._metrics.rejected.labels("no_start").inc()
            raise DeadlineExceeded(f"no Start message within {self._first_message_timeout:g} s of opening the stream")
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
        invocation = Invocation(
            record=record,
            sub_id=sub_id,
            start=first,
            profile=profile,
            launcher=self._launcher,
            host=host,
            metrics=self._metrics,
            site=self._registry.site(record),
            max_message_bytes=self._max_message_bytes,
        )
        return invocation, user_key(first.user)


def _fitted(result: domain.Result, limit: int) -> domain.Result:
    """``result``, or an OUTPUT_LIMIT Result in its place when it is too large to send.

    Exactly one Result ends every stream: a value, error or output too large for one gRPC
    message must not end the stream with RESOURCE_EXHAUSTED instead. The replacement keeps
    the usage and drops the output (the part that made it large, with the value).
    """
    size = convert.outbound(result).ByteSize()
    if size <= limit:
        return result
    return domain.Result(
        outcome=domain.Outcome.OUTPUT_LIMIT,
        usage=result.usage,
        error=f"the Result of {size} bytes exceeds max_message_bytes={limit}",
        error_type="OutputLimit",
        output_truncated=bool(result.output),
    )
