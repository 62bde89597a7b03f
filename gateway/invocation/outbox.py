"""What an invocation sends the host: one ordered, bounded queue, merging deltas under pressure.

The worker pump puts events, calls and host requests in; one writer task takes them out in order and
writes them to the host's stream. ``seq`` is assigned as a message is written, so it stays
contiguous. When the host reads more slowly than the plugin emits, messages wait here, and a
``chat:message:delta`` (or ``message``) event whose data is only ``{"content": str}`` is
merged, once ``merge_after`` messages wait, into the one waiting right before it if that is
the same kind: the content is
concatenated, so the host sees the same text in the same order, in fewer messages. Nothing
is ever dropped: once ``capacity`` messages wait and the new one cannot be merged, the
pump waits, and with it the plugin (its channel writes block). That wait is the host's
time, not the plugin's: ``host_slow`` is told True once the queue is full, and False once
the host has caught up to half of it (the engine pauses the plugin's clock in between).
Half, not one free place: a plugin that emits as fast as it can keeps the queue one below
full most of the time, and the moments the pump spends forwarding each frame meanwhile are
not the plugin's running time either (it is blocked on its channel).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import structlog

from airlock.domain.invocation import Call, Event, HostRequest
from gateway.invocation.host_stream import HostStream, MessageTooLarge
from runner import exact_json

log = structlog.get_logger("airlock.outbox")

#: Event types whose content the chat UI appends (Open WebUI's message deltas).
APPENDING_TYPES = frozenset({"chat:message:delta", "message"})
#: Messages waiting for the host before the plugin is made to wait.
DEFAULT_CAPACITY = 256
#: Merging starts once this many messages wait (by default: when the queue is full, where
#: the plugin would otherwise have to wait): a host that keeps up sees every delta exactly as
#: the plugin emitted it.
DEFAULT_MERGE_AFTER = DEFAULT_CAPACITY
#: A merged delta never grows past this many characters (one gRPC message stays small).
DEFAULT_MAX_MERGED_CHARS = 64 * 1024
#: Room in a message for what is not a merged delta's content (seq, type, JSON framing).
_EVENT_OVERHEAD_BYTES = 1024


def max_merged_chars(max_message_bytes: int) -> int:
    """The longest merged delta that still fits one message of ``max_message_bytes``.

    Merging must never make a message too large to send when each delta fitted alone: a
    character takes at most 6 bytes of JSON (a control character is written as a 6-byte escape).
    """
    return max(1, min(DEFAULT_MAX_MERGED_CHARS, (max_message_bytes - _EVENT_OVERHEAD_BYTES) // 6))


@dataclass
class _Waiting:
    type: str
    data_json: bytes = b""
    #: Set for a mergeable delta: its content so far (data_json is built when written).
    content: str | None = None
    call_id: str = ""
    timeout: float = 0.0
    is_call: bool = False
    #: A host request: ``type`` is its method.
    is_host_request: bool = False
    stream: bool = False

    def message(self, seq: int) -> Event | Call | HostRequest:
        if self.is_call:
            return Call(seq, self.call_id, self.type, self.data_json, self.timeout)
        if self.is_host_request:
            return HostRequest(seq, self.call_id, self.type, self.data_json, self.stream, self.timeout)
        if self.content is not None:
            return Event(seq, self.type, exact_json.dumps({"content": self.content}))
        return Event(seq, self.type, self.data_json)


def _delta_content(event_type: str, data: object) -> str | None:
    if event_type not in APPENDING_TYPES or not isinstance(data, dict) or data.keys() != {"content"}:
        return None
    content = data["content"]
    return content if isinstance(content, str) else None


class Outbox:
    """The ordered queue between an invocation's worker and its host stream."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        merge_after: int = DEFAULT_MERGE_AFTER,
        max_merged_chars: int = DEFAULT_MAX_MERGED_CHARS,
        too_large: Callable[[str], None] | None = None,
        host_slow: Callable[[bool], None] | None = None,
    ) -> None:
        self._capacity = capacity
        #: Told (with a message naming the limit) when a message was too large to send.
        self._too_large = too_large
        #: Told True when the queue is full, False when it is down to half (or delivery stops).
        self._host_slow = host_slow
        #: Between those two: the host is behind.
        self._behind = False
        self._merge_after = merge_after
        self._max_merged = max_merged_chars
        self._queue: deque[_Waiting] = deque()
        self._changed = anyio.Condition()
        self._closed = False
        #: Set when writing to the host failed; later messages are discarded.
        self.broken = False
        #: seq of the last message written.
        self.seq = 0
        #: Deltas merged into an earlier one (they reached the host inside it).
        self.merged = 0

    async def _put(self, waiting: _Waiting) -> None:
        async with self._changed:
            if len(self._queue) >= self._capacity and not self.broken:
                self._set_behind(True)
            while len(self._queue) >= self._capacity and not self.broken:
                await self._changed.wait()
            if self.broken:
                return  # the host's stream failed: there is nobody left to deliver to
            self._queue.append(waiting)
            self._changed.notify_all()

    async def event(self, event_type: str, data: object) -> None:
        """Queue an event (merged into the last waiting delta when it can be)."""
        content = _delta_content(event_type, data)
        if content is not None and len(self._queue) >= self._merge_after:
            last = self._queue[-1]
            if (
                last.type == event_type
                and last.content is not None
                and len(last.content) + len(content) <= self._max_merged
            ):
                last.content += content
                self.merged += 1
                return
        await self._put(_Waiting(event_type, b"" if content is not None else exact_json.dumps(data), content))

    async def call(self, call_id: str, call_type: str, data: object, answer_within: float) -> None:
        """Queue an ``__event_call__`` (never merged)."""
        await self._put(
            _Waiting(call_type, exact_json.dumps(data), call_id=call_id, timeout=answer_within, is_call=True)
        )

    async def host_request(
        self, request_id: str, method: str, args: object, stream: bool, answer_within: float
    ) -> None:
        """Queue a host request (never merged)."""
        waiting = _Waiting(
            method,
            exact_json.dumps(args),
            call_id=request_id,
            timeout=answer_within,
            is_host_request=True,
            stream=stream,
        )
        await self._put(waiting)

    async def close(self) -> None:
        """No more messages: the writer sends what is queued and returns."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    async def _next(self) -> _Waiting | None:
        async with self._changed:
            while not self._queue:
                if self._closed:
                    return None
                await self._changed.wait()
            waiting = self._queue.popleft()
            if len(self._queue) <= self._capacity // 2:
                self._set_behind(False)
            self._changed.notify_all()
            return waiting

    def _set_behind(self, behind: bool) -> None:
        if behind != self._behind:
            self._behind = behind
            if self._host_slow is not None:
                self._host_slow(behind)

    async def write_to(self, host: HostStream) -> None:
        """Write every message in order until closed and empty (or the host's stream fails)."""
        while (waiting := await self._next()) is not None:
            self.seq += 1
            try:
                await host.send(waiting.message(self.seq))
            except MessageTooLarge as exc:
                # Nothing was written: the stream is intact and the Result can still go out.
                # The invocation ends (OUTPUT_LIMIT) and nothing after this message is sent,
                # so what the host saw is a gap-free prefix of what the plugin sent.
                self.seq -= 1
                kind = "call" if waiting.is_call else "host request" if waiting.is_host_request else "event"
                log.warning("host_message_too_large", kind=kind, size=exc.size, limit=exc.limit)
                await self._stop_delivery()
                if self._too_large is not None:
                    self._too_large(f"{'an' if kind == 'event' else 'a'} {kind} of {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - a broken stream ends delivery, not the gateway
                log.warning("host_write_failed", error=str(exc) or type(exc).__name__)
                await self._stop_delivery()
                return

    async def _stop_delivery(self) -> None:
        """Discard what waits and whatever comes later (the plugin is never blocked on it)."""
        async with self._changed:
            self.broken = True
            self._queue.clear()
            self._set_behind(False)
            self._changed.notify_all()
