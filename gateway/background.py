"""The gateway's background work: one anyio task group, open from Gateway.start to Gateway.stop.

Warm pool refills, worker releases and egress relay connections run as children of this
group, or of a group of their own nested in it, so that no task outlives the gateway and
no exception vanishes with a detached task: the first failure is logged at once and raised
again by :meth:`Background.aclose` (Gateway.stop).

The group lives in a task of its own, the one task the gateway creates outside a task
group: ``start()`` and ``stop()`` are separate calls, and the caller's own cancel scopes
between them (a test's task group, a timeout) need not nest with the gateway's lifetime.

Each task is supervised: its failure is logged and kept, and the others go on. A bug in
one egress connection or one pool refill must not cancel every relay and pool of the
gateway while it still reports SERVING.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import structlog

log = structlog.get_logger("airlock.background")


class Background:
    """The task group that owns every background task of one gateway."""

    def __init__(self) -> None:
        self._group: anyio.abc.TaskGroup | None = None
        self._host: asyncio.Task[None] | None = None
        self._finished = anyio.Event()
        #: Failures of supervised tasks, raised by aclose() (the first; all were logged).
        self._failures: list[Exception] = []

    @property
    def running(self) -> bool:
        """Whether tasks can be started (between start() and aclose())."""
        return self._group is not None

    async def start(self) -> None:
        """Open the task group (idempotent)."""
        if self._host is not None:
            return
        ready = anyio.Event()
        self._finished = anyio.Event()
        self._host = asyncio.get_running_loop().create_task(self._run(ready), name="airlock-background")
        await ready.wait()

    async def _run(self, ready: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                ready.set()
                await anyio.sleep_forever()
        except Exception:
            # Logged now: the gateway goes on serving, and stop() would be too late to notice.
            log.exception("background_task_failed")
            raise
        finally:
            self._group = None
            self._finished.set()

    def _failed(self, exc: Exception, name: str | None) -> None:
        # Logged now: the gateway goes on serving, and stop() would be too late to notice.
        log.error("background_task_failed", task=name, exc_info=exc)
        self._failures.append(exc)

    def start_soon(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None) -> None:
        """Run ``func(*args)`` in the group, supervised; RuntimeError when it is not running."""
        if self._group is None:
            raise RuntimeError("the gateway's background tasks are not running (start() it first)")

        async def supervised() -> None:
            try:
                await func(*args)
            except Exception as exc:  # noqa: BLE001 - one task's bug must not end the others
                self._failed(exc, name)

        self._group.start_soon(supervised, name=name)

    async def start_task(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None
    ) -> Any:
        """Run ``func(*args, task_status=...)`` in the group; wait for it to report started (anyio ``start``).

        A failure before it reports started is raised here; one after is supervised like
        ``start_soon``'s.
        """
        if self._group is None:
            raise RuntimeError("the gateway's background tasks are not running (start() it first)")

        async def supervised(*, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
            reported = False

            def started(value: Any = None) -> None:
                nonlocal reported
                reported = True
                task_status.started(value)

            status = _Status(started)
            try:
                await func(*args, task_status=status)
            except Exception as exc:  # one task's bug must not end the others
                if not reported:
                    raise
                self._failed(exc, name)

        return await self._group.start(supervised, name=name)

    async def aclose(self) -> None:
        """Cancel what still runs (shielded cleanups finish first), wait for all of it, raise its failure."""
        if self._host is None:
            return
        if self._group is not None:
            self._group.cancel_scope.cancel()
        # An event, not `await self._host`: cancelling the caller must not cancel the group's
        # host natively (anyio would take that for a failure of the whole group).
        await self._finished.wait()
        host, self._host = self._host, None
        if not host.cancelled() and (failure := host.exception()) is not None:
            raise failure
        if self._failures:
            failures, self._failures = self._failures, []
            raise ExceptionGroup("background tasks of the gateway failed", failures)


class _Status(anyio.abc.TaskStatus[Any]):
    """A task status that notes when the task reported started."""

    def __init__(self, started: Callable[[Any], None]) -> None:
        self._started = started

    def started(self, value: Any = None) -> None:
        self._started(value)
