"""Warm pools: sandboxes forked and fully confined ahead of time, one invocation each.

A pooled worker has been placed in its own cgroup, has completed every confinement step and
has said ``ready``; it waits for the single job it will ever run. Taking one from the pool
is the whole cost of starting a sandbox on the latency path. The pool refills in the
background (several starts at once, up to its size); when it is empty the caller forks a
worker on demand, with the very same confinement.

The refill is a task of the gateway's background (gateway.background); its starts and the
closing of dead workers run in a task group of the pool's own, nested in it, which
:meth:`WarmPool.aclose` cancels and waits for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import structlog

from gateway.background import Background
from gateway.sandbox.worker import StartFailed, Worker

log = structlog.get_logger("airlock.pool")

#: After a failed start, how long the refill waits before trying again.
_RETRY_SECONDS = 1.0


class WarmPool:
    """Ready workers of one profile, refilled by a task of the gateway's background."""

    def __init__(self, name: str, size: int, start: Callable[[], Awaitable[Worker]], background: Background) -> None:
        self.name = name
        self.size = size
        self._start = start
        self._background = background
        self._ready: deque[Worker] = deque()
        #: Workers found dead in the pool, for the refill task to close.
        self._dead: deque[Worker] = deque()
        self._starting = 0
        self._wake = asyncio.Event()
        # The refill and its starts are cancelled through this scope, never Task.cancel():
        # that would cut through the shielded steps of a start (a forked worker must always
        # end up owned and closed).
        self._scope = anyio.CancelScope()
        self._running = False
        self._finished = anyio.Event()
        self.hits = 0
        self.misses = 0
        self._stopping = False

    @property
    def ready(self) -> int:
        """Workers waiting in the pool now."""
        return len(self._ready)

    def waiting(self) -> tuple[Worker, ...]:
        """The workers waiting in the pool now (for checks; take() hands them out)."""
        return tuple(self._ready)

    def run(self) -> None:
        """Start refilling, in the gateway's background (idempotent)."""
        if not self._running and self.size > 0:
            self._background.start_soon(self._run, name=f"warm-pool-{self.name}")
            self._running = True

    def take(self) -> Worker | None:
        """A ready worker, or None when the pool is empty (a miss)."""
        while self._ready:
            worker = self._ready.popleft()
            self._wake.set()
            if worker.alive():
                self.hits += 1
                return worker
            log.warning("warm_worker_died", pid=worker.pid, profile=self.name)
            self._dead.append(worker)
        self.misses += 1
        self._wake.set()
        return None

    async def wait_ready(self, count: int | None = None) -> None:
        """Wait until ``count`` (default: all) workers are ready (for tests and benchmarks)."""
        wanted = self.size if count is None else count
        while len(self._ready) < wanted:  # noqa: ASYNC110 - the pool fills on its own schedule
            await anyio.sleep(0.01)

    async def _run(self) -> None:
        try:
            with self._scope:
                async with anyio.create_task_group() as tasks:
                    await self._refill(tasks)
        finally:
            self._finished.set()

    async def _refill(self, tasks: anyio.abc.TaskGroup) -> None:
        while not self._stopping:
            while self._dead:
                tasks.start_soon(self._close, self._dead.popleft())
            while len(self._ready) + self._starting < self.size:
                self._starting += 1
                tasks.start_soon(self._start_and_keep)
            self._wake.clear()
            await self._wake.wait()

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
            await self._close(worker)
            return
        self._ready.append(worker)

    async def _close(self, worker: Worker) -> None:
        # Closing is never cancelled: it reaps the worker and releases its cgroup.
        with anyio.CancelScope(shield=True):
            try:
                await worker.close()
            except Exception:
                log.exception("warm_worker_close_failed", pid=worker.pid, profile=self.name)

    async def aclose(self) -> None:
        """Stop refilling, wait for the starts and closes under way, close every pooled worker."""
        self._stopping = True
        self._scope.cancel()
        if self._running:
            await self._finished.wait()
        while self._dead or self._ready:
            await self._close((self._dead or self._ready).popleft())
