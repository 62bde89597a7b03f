"""Admission: how many Invoke streams and invocations the gateway takes on, in total and per user.

Checked before any sandbox is started or taken from a pool, so a flood costs the gateway
only a refused RPC. Refusals are ``Overloaded`` (RESOURCE_EXHAUSTED with a retry hint);
while draining, ``Unavailable``. Everything here runs on the event loop: plain counters.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.errors import Overloaded, Unavailable
from gateway.metrics import Metrics

#: The user key of Start messages without a user id: they share one allowance.
ANONYMOUS = ""


def user_key(user: dict[str, object]) -> str:
    """Whose allowance an invocation draws from: the ``id`` of Start.user_json."""
    value = user.get("id")
    return ANONYMOUS if value is None else str(value)


class Admission:
    """Counts open streams and admitted invocations against the configured limits."""

    def __init__(
        self, *, max_inflight: int, max_inflight_per_user: int, max_streams: int, retry_after: float, metrics: Metrics
    ) -> None:
        self.max_inflight = max_inflight
        self.max_inflight_per_user = max_inflight_per_user
        self.max_streams = max_streams
        self.retry_after = retry_after
        self._metrics = metrics
        self._streams = 0
        self._inflight = 0
        self._per_user: Counter[str] = Counter()
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        metrics.max_inflight.set(max_inflight)

    @property
    def inflight(self) -> int:
        """Invocations admitted and not finished."""
        return self._inflight

    def _refuse(self, reason: str, message: str) -> Overloaded:
        self._metrics.rejected.labels(reason).inc()
        return Overloaded(f"{message}; retry in {self.retry_after:g} s", reason=reason, retry_after=self.retry_after)

    def refuse_if_draining(self) -> None:
        """Unavailable while the gateway drains (the caller should use another gateway)."""
        if self.draining:
            self._metrics.rejected.labels("draining").inc()
            raise Unavailable("the gateway is shutting down and takes no new invocations")

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Hold one of ``max_streams`` for the duration of an Invoke stream."""
        if self._streams >= self.max_streams:
            message = f"the gateway has {self.max_streams} open Invoke streams (max_streams)"
            raise self._refuse("too_many_streams", message)
        self._streams += 1
        self._metrics.streams_open.inc()
        try:
            yield
        finally:
            self._streams -= 1
            self._metrics.streams_open.dec()

    @contextmanager
    def invocation(self, user: str, profile: str) -> Iterator[None]:
        """Admit one invocation of ``user`` on ``profile`` for the duration of the block."""
        self.refuse_if_draining()
        if self._inflight >= self.max_inflight:
            raise self._refuse("gateway_busy", f"the gateway runs {self.max_inflight} invocations (max_inflight)")
        if self._per_user[user] >= self.max_inflight_per_user:
            raise self._refuse(
                "user_busy", f"this user has {self.max_inflight_per_user} invocations running (max_inflight_per_user)"
            )
        self._inflight += 1
        self._per_user[user] += 1
        self._idle.clear()
        gauge = self._metrics.in_flight.labels(profile)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
            self._inflight -= 1
            self._per_user[user] -= 1
            if not self._per_user[user]:
                del self._per_user[user]  # one entry per user with something running, not per user ever seen
            if not self._inflight:
                self._idle.set()

    async def idle(self) -> None:
        """Wait until no invocation is admitted."""
        await self._idle.wait()
