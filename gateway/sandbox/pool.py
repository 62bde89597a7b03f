"""Warm pools: sandboxes forked and fully confined ahead of time, one invocation each.

A pooled worker has been placed in its own cgroup, has completed every confinement step and
has said ``ready``; it waits for the single job it will ever run. Taking one from the pool
is the whole cost of starting a sandbox on the latency path. The pool refills in the
background (several starts at once, up to its size); when it is empty the caller forks a
worker on demand, with the very same confinement.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import structlog

from gateway.sandbox.worker import StartFailed, Worker

log = structlog.get_logger("airlock.pool")

#: After a failed start, how long the refill waits before trying again.
_RETRY_SECONDS = 1.0


class WarmPool:
    """Ready workers of one profile, refilled by a background task."""

    def __init__(self, name: str, size: int, start: Callable[[], Awaitable[Worker]]) -> None:
        self.name = name
        self.size = size
        self._start = start
        self._ready: deque[Worker] = deque()
        self._starting = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._starts: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.hits = 0
        self.misses = 0
        self._stopping = False
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def ready(self) -> int:
        """Workers waiting in the pool now."""
        return len(self._ready)

    def waiting(self) -> tuple[Worker, ...]:
        """The workers waiting in the pool now (for checks; take() hands them out)."""
        return tuple(self._ready)

    def run(self) -> None:
        """Start refilling in the background (idempotent)."""
        if self._task is None and self.size > 0:
            self._task = asyncio.get_running_loop().create_task(self._refill(), name=f"warm-pool-{self.name}")

    def take(self) -> Worker | None:
        """A ready worker, or None when the pool is empty (a miss)."""
        while self._ready:
            worker = self._ready.popleft()
            self._wake.set()
            if worker.alive():
                self.hits += 1
                return worker
            log.warning("warm_worker_died", pid=worker.pid, profile=self.name)
            self._close_later(worker)
        self.misses += 1
        self._wake.set()
        return None

    async def wait_ready(self, count: int | None = None) -> None:
        """Wait until ``count`` (default: all) workers are ready (for tests and benchmarks)."""
        wanted = self.size if count is None else count
        while len(self._ready) < wanted:  # noqa: ASYNC110 - the pool fills on its own schedule
            await anyio.sleep(0.01)

    async def _refill(self) -> None:
        while not self._stopping:
            while len(self._ready) + self._starting < self.size:
                self._starting += 1
                task = asyncio.get_running_loop().create_task(self._start_one())
                self._starts.add(task)
                task.add_done_callback(self._starts.discard)
            self._wake.clear()
            await self._wake.wait()

    async def _start_one(self) -> None:
        # Cancelled through an anyio scope, never Task.cancel(): that would cut through the
        # shielded steps of a start (a forked worker must always end up owned and closed).
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                await self._start_and_keep()
        finally:
            self._scopes.discard(scope)

    async def _start_and_keep(self) -> None:
        try:
            worker = await self._start()
        except (StartFailed, OSError) as exc:
            log.warning("warm_start_failed", error=str(exc), profile=self.name)
            await anyio.sleep(_RETRY_SECONDS)
            return
        finally:
            self._starting -= 1
            self._wake.set()
        if self._stopping:  # finished while the pool closes: nobody will take it
            with anyio.CancelScope(shield=True):
                await worker.close()
            return
        self._ready.append(worker)

    def _close_later(self, worker: Worker) -> None:
        task = asyncio.get_running_loop().create_task(worker.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Stop refilling and close every pooled worker."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()  # it only ever waits for a wake-up
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._starts:
            for scope in list(self._scopes):
                scope.cancel()
            await asyncio.gather(*self._starts, return_exceptions=True)
        # Closing is never cancelled: it reaps workers and releases their cgroups.
        await asyncio.gather(*self._closing, return_exceptions=True)
        while self._ready:
            await self._ready.popleft().close()
