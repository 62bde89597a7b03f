"""Run one invocation: a worker, the host's stream, the clock, and exactly one Result.

Tasks of one task group: the worker pump (events and calls out, result), the host pump
(replies, cancel), the clock, the output drain and the usage sampler. Whichever task learns
first how the invocation ends records it and cancels the group; the worker is then killed
under a shielded scope, whatever happened, and the Result is built from what the kernel
and the worker's frames said.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from airlock.domain.functions import FunctionRecord
from airlock.domain.invocation import (
    CallReply,
    CancelRequest,
    HostReply,
    Outcome,
    Result,
    Started,
    StartRequest,
)
from airlock.domain.usage import Usage
from gateway.errors import ProtocolError
from gateway.invocation import scrub
from gateway.invocation.clock import ActiveClock, TokenBucket
from gateway.invocation.host_stream import HostStream
from gateway.invocation.outbox import Outbox, max_merged_chars
from gateway.metrics import Metrics
from gateway.profiles import Profile
from gateway.sandbox import verdict
from gateway.sandbox.confinement import SiteBind
from gateway.sandbox.frames import (
    CallAbandonedFrame,
    CallFrame,
    CompiledFrame,
    EventFrame,
    Frame,
    HostRequestFrame,
    ResultFrame,
)
from gateway.sandbox.launcher import Launcher, NoCapacity
from gateway.sandbox.verdict import Ending
from gateway.sandbox.worker import OutputExceeded, ProtocolViolation, StartFailed, Worker, WorkerGone
from runner import exact_json
from runner.wire import CALL_DISCONNECTED_VALUE, CALL_TIMEOUT_VALUE

log = structlog.get_logger("airlock.invocation")

#: How often the sandbox's CPU time is compared with the profile's limit.
_CPU_CHECK_SECONDS = 0.1
#: How long a worker that closed its channel gets to exit before it counts as hung.
_EXIT_GRACE_SECONDS = 0.5
#: How long the events a sandbox wrote before a limit stopped it may take to be forwarded.
_EMITTED_GRACE_SECONDS = 1.0


@dataclass
class _PendingCall:
    worker_call_id: str
    #: The call's type, or the host request's method.
    type: str
    #: Cancels the call's timeout when it is answered or abandoned first.
    timer: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    #: A host request (answered by HostReply), not an ``__event_call__`` (CallReply).
    host_request: bool = False

    def count(self, metrics: Metrics | None, result: str) -> None:
        if metrics is None:
            return
        if self.host_request:
            metrics.host_request(self.type, result)
        else:
            metrics.call(self.type, result)


class Invocation:
    """One invocation of one action on one host stream."""

    def __init__(
        self,
        *,
        record: FunctionRecord,
        sub_id: str | None,
        start: StartRequest,
        profile: Profile,
        launcher: Launcher,
        host: HostStream,
        metrics: Metrics | None = None,
        site: SiteBind | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        #: The function's installed requirements, bound read-only into its sandbox.
        self.site = site
        self.record = record
        self.sub_id = sub_id
        self.start = start
        self.profile = profile
        self.timeout = start.timeout or profile.wall_seconds
        self.call_timeout = start.call_timeout or profile.call_timeout_seconds
        #: Set when the host misused the stream; the servicer turns it into a status error.
        self.protocol_error: ProtocolError | None = None
        self._launcher = launcher
        self._host = host
        self._clock: ActiveClock | None = None
        self._ending: Ending | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._emitted = 0
        self._pending: dict[str, _PendingCall] = {}
        self._finished_calls: set[str] = set()
        self._host_done = False
        self._rate = TokenBucket(profile.max_events_per_second)
        merged = {} if max_message_bytes is None else {"max_merged_chars": max_merged_chars(max_message_bytes)}
        self._outbox = Outbox(too_large=self._too_large, host_slow=self._host_slow, **merged)
        #: Whether the clock is paused for a full outbox (so that it is resumed exactly once).
        self._paused_for_host = False
        self._worker: Worker | None = None
        #: Set once a limit killed the sandbox: only the events it wrote before are forwarded.
        self._stopping = False
        #: Set when the worker's frames have all been read (or the reading stopped).
        self._pumped = anyio.Event()
        self._metrics = metrics
        #: Cancels the whole invocation, also while it waits for a sandbox (``cancel``).
        self._scope = anyio.CancelScope()
        #: Seconds spent waiting for a ready sandbox (capacity slot and start or pool).
        self.queue_wait: float | None = None
        #: Events and calls the plugin sent (for the summary line).
        self.events = 0
        self.calls = 0

    def started(self) -> Started:
        """The Started message for this invocation."""
        return Started(self.id, self.record.id, self.record.sha256, self.profile.name, self.timeout, self.call_timeout)

    def _job(self) -> dict[str, Any]:
        s = self.start
        return {
            "op": "invoke",
            "function_id": self.record.id,
            "sub_id": self.sub_id,
            "source": self.record.source,
            # The host's own valves replace the stored ones whole (see Start.valves_json).
            "valves": self.record.valves if s.valves is None else s.valves,
            "body": s.body,
            "user": s.user,
            "user_valves": s.user_valves,
            "model": s.model,
            "request": s.request,
            "host_capabilities": sorted(s.host_capabilities),
            "code": self._launcher.code_cache.get(self.record.id, self.record.sha256),
        }

    @property
    def ran_sandbox(self) -> bool:
        """Whether a sandbox was handed to this invocation (its usage is then the kernel's)."""
        return self._worker is not None

    def cancel(self, reason: str, error_type: str = "Cancelled") -> None:
        """End the invocation as CANCELLED (the gateway drains); a no-op once it is ending."""
        if self._ending is None:
            self._ending = Ending(Outcome.CANCELLED, reason, error_type)
            self._scope.cancel()
        elif self._stopping:
            # A limit ended it and its last events are on their way: the host needs none now.
            self._scope.cancel()

    def _host_slow(self, slow: bool) -> None:
        """The outbox is full (or the host caught up): the plugin waits on the host, its clock stops."""
        if self._clock is None or slow == self._paused_for_host:
            return
        self._paused_for_host = slow
        if slow:
            self._clock.pause()
        else:
            self._clock.resume()

    def _too_large(self, what: str) -> None:
        """A message for the host could not be sent: the plugin's output broke the limit."""
        ending = Ending(Outcome.OUTPUT_LIMIT, what, "OutputLimit")
        if self._ending is not None and self._ending.outcome is Outcome.OK:
            # The plugin returned before the outbox reached this message. The Result is built
            # only once the outbox is done, and it must not say OK over a message the host
            # never got.
            self._ending = ending
        elif self._tg is not None:
            self._finish(ending)
        elif self._ending is None:
            self._ending = ending

    def _finish(self, ending: Ending) -> None:
        if self._ending is None:
            self._ending = ending
            assert self._tg is not None
            self._tg.cancel_scope.cancel()

    async def run(self) -> Result:
        """Send Started, run the worker to its end, return the Result (not yet sent)."""
        began = time.monotonic()
        await self._host.send(self.started())
        async with anyio.create_task_group() as writer:
            # The writer outlives the worker: what the plugin emitted before its result is
            # all delivered, in order, before the Result goes out.
            writer.start_soon(self._outbox.write_to, self._host)
            try:
                await self._run_worker()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._outbox.close()
        wall_ms = int((time.monotonic() - began) * 1000)
        assert self._ending is not None
        return self._result(self._ending, self._worker, wall_ms)

    async def _run_worker(self) -> None:
        try:
            with self._scope:
                await self._run_worker_in_scope()
        finally:
            # Calls still open when the invocation ended (a limit, a cancel, a crash) are
            # counted too, so that the call counters add up to the calls made.
            for call_id in list(self._pending):
                self._pending.pop(call_id).count(self._metrics, "unanswered")

    async def _run_worker_in_scope(self) -> None:
        waiting = time.monotonic()
        try:
            # session_seconds bounds the whole invocation, the wait for a sandbox included.
            async with self._launcher.worker(
                self.profile, wait_limit=self.profile.session_seconds, site=self.site
            ) as worker:
                self.queue_wait = time.monotonic() - waiting
                self._worker = worker
                job = self._job()
                await worker.send(job)
                # The action's own clock starts once the worker is ready: waiting for a free
                # slot and starting a sandbox are Airlock's time, not the plugin's; the
                # session ceiling is what is left of session_seconds.
                self._clock = ActiveClock(self.timeout, self.profile.session_seconds - self.queue_wait)
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    tg.start_soon(self._pump_worker, worker, job["code"] is not None)
                    tg.start_soon(self._pump_host, worker)
                    tg.start_soon(self._watch_clock, worker)
                    tg.start_soon(self._drain_output, worker)
                    tg.start_soon(self._watch_cpu, worker)
        except NoCapacity as exc:
            if self._ending is None:
                self._ending = Ending(Outcome.TIMEOUT, f"session_seconds ran out: {exc}", "Timeout")
        except (OSError, anyio.BrokenResourceError, StartFailed) as exc:
            if self._ending is None:
                self._ending = Ending(Outcome.CRASHED, f"the worker failed to start: {exc}", "WorkerCrashed")
        except Exception:
            log.exception("invocation_internal_error")
            if self._ending is None:
                self._ending = Ending(Outcome.CRASHED, "an internal error of the gateway (logged)", "InternalError")

    def _result(self, ending: Ending, worker: Worker | None, wall_ms: int) -> Result:
        counted = worker.counters if worker else None
        if counted is not None and ending.outcome is Outcome.CRASHED and counted.oom_kills:
            # The kernel's OOM killer ended it: that is the memory limit, not a crash.
            ending = Ending(
                Outcome.MEMORY_LIMIT, f"memory limit of {self.profile.memory_mib} MiB exceeded", "MemoryLimit"
            )
        usage = Usage(wall_ms, counted.cpu_ms, counted.peak_memory_bytes) if counted else Usage(wall_ms)
        output = bytes(worker.output) if worker else b""
        try:
            imports = self._launcher.imports(self.profile).path
        except StartFailed:
            imports = ()
        hidden = scrub.host_paths(imports)
        return Result(
            outcome=ending.outcome,
            usage=usage,
            value_json=ending.value_json,
            error=scrub.apply(ending.error, hidden),
            error_type=ending.error_type,
            traceback=scrub.apply(ending.traceback, hidden),
            output=scrub.apply(output.decode("utf-8", "replace"), hidden),
            output_truncated=worker is not None and worker.output_bytes > len(worker.output),
        )

    # -- worker side -------------------------------------------------------------------

    async def _pump_worker(self, worker: Worker, sent_code: bool) -> None:
        try:
            await self._pump_frames(worker, sent_code)
        finally:
            self._pumped.set()

    async def _pump_frames(self, worker: Worker, sent_code: bool) -> None:
        try:
            frame = await worker.receive()
            if isinstance(frame, CompiledFrame) and not sent_code:
                # The runner's, before any of the plugin's code ran: a worker without cached
                # code that compiled the source sends it first. Anywhere else it is forged.
                if frame.code:
                    self._launcher.code_cache.put(self.record.id, self.record.sha256, frame.code)
                frame = await worker.receive()
            while await self._forward(worker, frame):
                frame = await worker.receive()
        except OutputExceeded as exc:
            self._finish(Ending(Outcome.OUTPUT_LIMIT, str(exc), "OutputLimit"))
        except ProtocolViolation as exc:
            self._finish(Ending(Outcome.CRASHED, f"the worker broke the protocol: {exc}", "ProtocolViolation"))
        except WorkerGone:
            if self._stopping:
                return
            returncode = await worker.wait_exit(_EXIT_GRACE_SECONDS)
            self._finish(verdict.from_exit(returncode, worker.cgroup.counters(), self.profile))

    async def _forward(self, worker: Worker, frame: Frame) -> bool:
        """Pass one of the plugin's frames on; False once no more frames are wanted."""
        if self._stopping and not isinstance(frame, EventFrame):
            # A call or host request from a killed sandbox has nobody left to answer.
            return False
        if isinstance(frame, EventFrame):
            await self._forward_event(frame)
        elif isinstance(frame, CallFrame):
            await self._forward_call(worker, frame)
        elif isinstance(frame, HostRequestFrame):
            await self._forward_host_request(worker, frame)
        elif isinstance(frame, CallAbandonedFrame):
            self._abandon(frame.call_id)
        elif isinstance(frame, ResultFrame):
            worker.returned = True
            self._finish(verdict.from_result(frame, exact_json.dumps(frame.value)))
            return False
        else:
            raise ProtocolViolation(f"unexpected {frame.op!r} frame during an invocation")
        return True

    def _admit(self) -> None:
        """Count one event or call the plugin sent against the profile's caps."""
        if self._emitted >= self.profile.max_events:
            raise OutputExceeded(f"the plugin sent more than max_events={self.profile.max_events} events and calls")
        if not self._rate.take():
            raise OutputExceeded(
                f"the plugin sent events faster than max_events_per_second={self.profile.max_events_per_second}"
            )
        self._emitted += 1

    async def _forward_event(self, frame: EventFrame) -> None:
        self._admit()
        self.events += 1
        if self._metrics is not None:
            self._metrics.event(frame.type)
        await self._outbox.event(frame.type, frame.data)

    async def _forward_call(self, worker: Worker, frame: CallFrame) -> None:
        self._admit()
        self.calls += 1
        call_id = uuid.uuid4().hex
        pending = _PendingCall(frame.call_id, frame.type)
        await self._wait_for_host(
            worker, call_id, pending, self._outbox.call(call_id, frame.type, frame.data, self.call_timeout)
        )

    async def _forward_host_request(self, worker: Worker, frame: HostRequestFrame) -> None:
        """Ask the host, if it said it answers this method; otherwise fail the plugin's call now."""
        self._admit()
        self.calls += 1
        if frame.method not in self.start.host_capabilities:
            # The gateway decides, not the worker's own check: a plugin can send any frame.
            if self._metrics is not None:
                self._metrics.host_request(frame.method, "refused")
            error = f"the host does not answer {frame.method!r} (it is not in the invocation's Start.host_capabilities)"
            await self._send_to_worker(worker, _host_reply(frame.call_id, error=error, kind="unavailable"))
            return
        request_id = uuid.uuid4().hex
        pending = _PendingCall(frame.call_id, frame.method, host_request=True)
        queued = self._outbox.host_request(request_id, frame.method, frame.args, frame.stream, self.call_timeout)
        await self._wait_for_host(worker, request_id, pending, queued)

    async def _wait_for_host(
        self, worker: Worker, call_id: str, pending: _PendingCall, queued: Coroutine[Any, Any, None]
    ) -> None:
        """Register a call or host request, send it (``queued``), and start its timeout.

        The plugin's clock stops while it waits; a host that already stopped sending gets
        nothing to answer: the request ends as disconnected at once.
        """
        assert self._clock is not None
        assert self._tg is not None
        self._pending[call_id] = pending
        self._clock.call_started()
        await queued
        if self._host_done:
            await self._answer(worker, call_id, CALL_DISCONNECTED_VALUE, "disconnected")
        else:
            self._tg.start_soon(self._expire_call, worker, call_id, pending.timer)

    def _retire(self, call_id: str, result: str) -> _PendingCall | None:
        """Take a call out of the pending set: the clock runs again, its timer stops."""
        pending = self._pending.pop(call_id, None)
        if pending is not None:
            assert self._clock is not None
            self._finished_calls.add(call_id)
            self._clock.call_finished()
            pending.timer.cancel()
            pending.count(self._metrics, result)
        return pending

    async def _answer(self, worker: Worker, call_id: str, value: Any, result: str) -> bool:
        """End a pending call or host request with Airlock's answer (timeout, disconnect) or the host's."""
        pending = self._retire(call_id, result)
        if pending is None:
            return False
        if not pending.host_request:
            frame = {"op": "reply", "call_id": pending.worker_call_id, "value": value}
        elif result == "timed_out":
            frame = _host_reply(pending.worker_call_id, error="the host did not answer in time", kind="timeout")
        elif result == "disconnected":
            frame = _host_reply(pending.worker_call_id, error="the host stopped answering", kind="disconnected")
        else:
            frame = _host_reply(pending.worker_call_id, value=value)
        await self._send_to_worker(worker, frame)
        return True

    async def _send_to_worker(self, worker: Worker, frame: dict[str, Any]) -> None:
        # A worker that is gone cannot take the reply; its pump reports how it ended.
        with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await worker.send(frame)

    def _abandon(self, worker_call_id: str) -> None:
        """The plugin gave up waiting: a later host reply is stray, and the clock runs again."""
        for call_id, pending in list(self._pending.items()):
            if pending.worker_call_id == worker_call_id:
                self._retire(call_id, "abandoned")
                log.info("event_call_abandoned", call_id=call_id)

    async def _expire_call(self, worker: Worker, call_id: str, timer: anyio.CancelScope) -> None:
        with timer:
            await anyio.sleep(self.call_timeout)
        if timer.cancel_called:
            return  # answered or abandoned first
        if await self._answer(worker, call_id, CALL_TIMEOUT_VALUE, "timed_out"):
            log.warning("event_call_timed_out", call_id=call_id, timeout_seconds=self.call_timeout)

    async def _stop_for_limit(self, worker: Worker, ending: Ending) -> None:
        """End with a limit seen beside the frames, once the events written before it are forwarded.

        The plugin's events and what it prints travel on two pipes, and time and CPU are
        watched apart from both: a flood of prints can break its limit while an event the
        plugin emitted earlier still sits unread in the other pipe. The sandbox is killed
        first, so that its channel ends and nothing new joins it; the events already in it
        are forwarded (nothing else: a call or host request from a dead sandbox has nobody to
        answer it), then the invocation ends.
        """
        if self._ending is not None:
            return
        self._ending = ending
        self._stopping = True
        await worker.kill()
        with anyio.move_on_after(_EMITTED_GRACE_SECONDS):
            await self._pumped.wait()
        assert self._tg is not None
        self._tg.cancel_scope.cancel()

    async def _drain_output(self, worker: Worker) -> None:
        try:
            await worker.drain_output()
        except OutputExceeded as exc:
            await self._stop_for_limit(worker, Ending(Outcome.OUTPUT_LIMIT, str(exc), "OutputLimit"))

    async def _watch_cpu(self, worker: Worker) -> None:
        # RLIMIT_CPU bounds each process; the cgroup's count covers all of them together
        # (threads and forks included).
        limit_ms = self.profile.cpu_seconds * 1000
        while worker.cpu_ms() < limit_ms:  # noqa: ASYNC110 - polling a kernel counter
            await anyio.sleep(_CPU_CHECK_SECONDS)
        await self._stop_for_limit(
            worker, Ending(Outcome.CPU_LIMIT, f"CPU time limit of {self.profile.cpu_seconds} s exceeded", "CpuLimit")
        )

    async def _watch_clock(self, worker: Worker) -> None:
        assert self._clock is not None
        which = await self._clock.expired()
        if which == "wall":
            message = f"the action ran longer than its timeout of {self.timeout:g} s"
        else:
            message = f"the invocation exceeded session_seconds={self.profile.session_seconds:g}"
        await self._stop_for_limit(worker, Ending(Outcome.TIMEOUT, message, "Timeout"))

    # -- host side ---------------------------------------------------------------------

    async def _pump_host(self, worker: Worker) -> None:
        while True:
            try:
                message = await self._host.receive()
            except ProtocolError as exc:
                self.protocol_error = exc
                self._finish(Ending(Outcome.CANCELLED, f"protocol error: {exc}", "ProtocolError"))
                return
            if message is None:
                await self._host_finished(worker)
                return
            if isinstance(message, CallReply):
                await self._reply(worker, message)
            elif isinstance(message, HostReply):
                await self._host_reply(worker, message)
            elif isinstance(message, CancelRequest):
                reason = message.reason or "the host cancelled the invocation"
                self._finish(Ending(Outcome.CANCELLED, reason, "Cancelled"))
                return
            elif isinstance(message, StartRequest):
                self.protocol_error = ProtocolError("a second Start on one stream; open one stream per invocation")
                self._finish(Ending(Outcome.CANCELLED, f"protocol error: {self.protocol_error}", "ProtocolError"))
                return

    async def _reply(self, worker: Worker, reply: CallReply) -> None:
        pending = self._pending.get(reply.call_id)
        if pending is not None and pending.host_request:
            log.warning("stray_call_reply_dropped", call_id=reply.call_id[:64], reason="a host request's id")
            return
        if not await self._answer(worker, reply.call_id, reply.value, "answered"):
            reason = "already answered or timed out" if reply.call_id in self._finished_calls else "unknown call_id"
            log.warning("stray_call_reply_dropped", call_id=reply.call_id[:64], reason=reason)

    async def _host_reply(self, worker: Worker, reply: HostReply) -> None:
        pending = self._pending.get(reply.request_id)
        if pending is None or not pending.host_request:
            finished = reply.request_id in self._finished_calls
            reason = "already answered, abandoned or timed out" if finished else "unknown request_id"
            log.warning("stray_host_reply_dropped", request_id=reply.request_id[:64], reason=reason)
            return
        if reply.more and not reply.error:
            # One chunk of a streamed answer: the request stays open (and the clock paused).
            await self._send_to_worker(worker, _host_reply(pending.worker_call_id, value=reply.value, more=True))
            return
        self._retire(reply.request_id, "error" if reply.error else "answered")
        frame = _host_reply(pending.worker_call_id, value=reply.value, error=reply.error, kind="host")
        await self._send_to_worker(worker, frame)

    async def _host_finished(self, worker: Worker) -> None:
        """The host stopped sending: calls can no longer be answered (Open WebUI's disconnect)."""
        self._host_done = True
        for call_id in list(self._pending):
            await self._answer(worker, call_id, CALL_DISCONNECTED_VALUE, "disconnected")


def _host_reply(
    call_id: str, *, value: Any = None, error: str = "", kind: str = "", more: bool = False
) -> dict[str, Any]:
    """A ``host_reply`` frame; ``kind`` says who failed when ``error`` is set (runner.host)."""
    frame: dict[str, Any] = {"op": "host_reply", "call_id": call_id, "value": value, "more": more}
    if error:
        frame["error"] = error
        frame["kind"] = kind
    return frame
