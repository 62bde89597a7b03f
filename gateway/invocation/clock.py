"""Time-based limits of an invocation: its wall clock and its event rate.

The wall clock counts running time only, with an absolute ceiling.

A plugin waiting for a human to answer a confirmation is not running, so time with a call
outstanding does not count against ``wall_seconds``; nor does time the plugin is held
because the host reads what it sent more slowly than it emits (the outbox is full and the
plugin's channel writes block): a slow host must not become the plugin's TIMEOUT.
``session_seconds`` still bounds the whole invocation, so neither a chain of calls nor a
host that stays slow can keep a worker alive forever.

What a plugin gains from a paused clock is bounded: it can only make the host slow by
sending it data, which output_bytes, frame_bytes and max_events cap; a thread that
computes meanwhile still spends cpu_seconds (the cgroup counts every process and thread);
and the sandbox is held for session_seconds at most, as it can be with calls.
"""

from __future__ import annotations

import time

import anyio


class ActiveClock:
    """Counts running time (no call outstanding) against a budget."""

    def __init__(self, budget: float, ceiling: float) -> None:
        self.budget = budget
        self.ceiling = ceiling
        self._started = time.monotonic()
        self._running_since: float | None = self._started
        self._spent = 0.0
        self._outstanding = 0
        self._changed = anyio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def pause(self) -> None:
        """The plugin now waits on the host (a call, or a full outbox); pauses nest."""
        if self._outstanding == 0 and self._running_since is not None:
            self._spent += time.monotonic() - self._running_since
            self._running_since = None
        self._outstanding += 1
        self._notify()

    def resume(self) -> None:
        """One wait on the host ended; the clock runs again once none is left."""
        self._outstanding -= 1
        if self._outstanding == 0:
            self._running_since = time.monotonic()
        self._notify()

    def call_started(self) -> None:
        """A call went out: the plugin now waits on the host."""
        self.pause()

    def call_finished(self) -> None:
        """A call was answered or timed out."""
        self.resume()

    def running_time(self) -> float:
        """Seconds of running time so far."""
        now = time.monotonic()
        return self._spent + (now - self._running_since if self._running_since is not None else 0.0)

    async def expired(self) -> str:
        """Return "wall" or "session" when the budget or the ceiling runs out."""
        with anyio.move_on_after(self.ceiling - (time.monotonic() - self._started)):
            while True:
                changed = self._changed
                if self._outstanding:
                    await changed.wait()
                    continue
                remaining = self.budget - self.running_time()
                if remaining <= 0:
                    return "wall"
                with anyio.move_on_after(remaining):
                    await changed.wait()
        return "session"


class TokenBucket:
    """A rate limit with a one-second burst: ``rate`` tokens per second, at most ``rate`` saved."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._tokens = float(rate)
        self._at = time.monotonic()

    def take(self) -> bool:
        """Spend one token; False when none is left."""
        now = time.monotonic()
        self._tokens = min(float(self.rate), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
