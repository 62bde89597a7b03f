"""The worker's end of the gateway channel (runs in the sandbox).

Writes are synchronous and serialised by a lock so that events keep the order in which the
plugin emitted them, from any thread or event loop. Replies to ``__event_call__`` arrive on a
reader thread and resolve :class:`concurrent.futures.Future` objects, which any event loop
can await. The gateway decides call timeouts; the worker just waits for its answer.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from runner import wire


class Channel:
    """Frames to and from the gateway over two file descriptors."""

    def __init__(self, fd_in: int, fd_out: int, max_frame_bytes: int, max_out_bytes: int) -> None:
        self._fd_in = fd_in
        self._fd_out = fd_out
        self._max_frame_bytes = max_frame_bytes
        #: The gateway's frame_bytes: error reports are shortened to fit (runner.failure.fit).
        self.max_out_bytes = max_out_bytes
        self._write_lock = threading.Lock()
        self._pending: dict[str, Future[Any]] = {}
        #: Host requests waiting for replies: call_id → what to do with each reply frame.
        self._host_handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._job: Future[dict[str, Any]] = Future()

    def send(self, message: dict[str, Any], default: Any = None) -> None:
        """Send one frame; raises TypeError if it is not JSON-serialisable."""
        frame = wire.encode(message, default)
        with self._write_lock:
            wire.write_frame(self._fd_out, frame)

    def receive(self) -> dict[str, Any] | None:
        """Block for the next frame from the gateway (None when it closed the channel)."""
        return wire.read_frame(self._fd_in, self._max_frame_bytes)

    def call(self, call_type: str, data: Any) -> Future[Any]:
        """Send a call and return a future for the gateway's reply value."""
        call_id = str(next(self._ids))
        future: Future[Any] = Future()
        frame = {"op": "call", "call_id": call_id, "type": call_type, "data": data}
        with self._pending_lock:
            self._pending[call_id] = future
        try:
            self.send(frame)
        except BaseException:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            raise
        future.add_done_callback(lambda f: self._abandoned(call_id, f))
        return future

    def host_request(
        self, method: str, args: dict[str, Any], stream: bool, on_reply: Callable[[dict[str, Any]], None]
    ) -> str:
        """Send a host request; ``on_reply`` gets each ``host_reply`` frame, on the reader thread.

        Ids come from the same counter as calls, so one ``call_abandoned`` op serves both.
        """
        call_id = str(next(self._ids))
        with self._pending_lock:
            self._host_handlers[call_id] = on_reply
        try:
            self.send({"op": "host_request", "call_id": call_id, "method": method, "args": args, "stream": stream})
        except BaseException:
            with self._pending_lock:
                self._host_handlers.pop(call_id, None)
            raise
        return call_id

    def abandon_host_request(self, call_id: str) -> None:
        """The plugin stopped waiting: later replies are dropped (by the gateway too)."""
        with self._pending_lock:
            if self._host_handlers.pop(call_id, None) is None:
                return  # already finished
        with contextlib.suppress(OSError):
            self.send({"op": "call_abandoned", "call_id": call_id})

    def _abandoned(self, call_id: str, future: Future[Any]) -> None:
        """Tell the gateway the plugin stopped waiting (its wall clock runs again)."""
        if not future.cancelled():
            return
        with self._pending_lock:
            self._pending.pop(call_id, None)
        with contextlib.suppress(OSError):
            self.send({"op": "call_abandoned", "call_id": call_id})

    def serve_replies(self) -> None:
        """Start the reader thread; the process exits when the gateway closes the channel.

        Exiting on EOF means a worker never outlives its gateway's interest in it, even
        when the plugin is blocked in native code. The thread also receives the job
        (:meth:`job`), so it is started before the worker says it is ready.
        """
        threading.Thread(target=self._read_loop, name="airlock-channel", daemon=True).start()

    def job(self) -> dict[str, Any]:
        """Block until the gateway's job arrives (the reader thread must be running)."""
        return self._job.result()

    def _route_host_reply(self, message: dict[str, Any]) -> None:
        call_id = str(message.get("call_id"))
        with self._pending_lock:
            handler = self._host_handlers.get(call_id)
            if handler is not None and not message.get("more"):
                del self._host_handlers[call_id]
        if handler is not None:
            handler(message)

    def _read_loop(self) -> None:
        try:
            while (message := self.receive()) is not None:
                if message["op"] == "host_reply":
                    self._route_host_reply(message)
                    continue
                if message["op"] != "reply":
                    # The first other frame is the job; the gateway sends nothing else.
                    if not self._job.done():
                        self._job.set_result(message)
                    continue
                with self._pending_lock:
                    future = self._pending.pop(str(message.get("call_id")), None)
                # A plugin may have given up on the call (asyncio.wait_for): its future is
                # cancelled, and the late answer has nobody to go to.
                if future is not None and not future.done():
                    future.set_result(message.get("value"))
        except (OSError, wire.FrameError):
            pass
        finally:
            os._exit(0)
