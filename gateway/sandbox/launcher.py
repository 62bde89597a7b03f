"""Hands out confined workers per profile, bounded by each profile's ``max_concurrent``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio

from gateway.profiles import Profile
from gateway.sandbox.cgroups import Cgroups
from gateway.sandbox.confinement import UidAllocator
from gateway.sandbox.worker import Worker

Pool = Literal["invoke", "inspect"]


class Launcher:
    """Starts workers; one capacity limiter per profile."""

    def __init__(self, cgroups: Cgroups, *, python: str | None = None) -> None:
        self.python = python or sys.executable
        self.cgroups = cgroups
        self._uids = UidAllocator()
        self._limiters: dict[tuple[str, Pool], anyio.CapacityLimiter] = {}

    def _limiter(self, profile: Profile, pool: Pool) -> anyio.CapacityLimiter:
        key = (profile.name, pool)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = anyio.CapacityLimiter(profile.max_concurrent)
        return limiter

    @asynccontextmanager
    async def worker(self, profile: Profile, pool: Pool = "invoke") -> AsyncIterator[Worker]:
        """A ready worker for one job; killed and cleaned up on exit, whatever happened.

        Registrations draw from their own pool: invocations waiting on a human for minutes
        must not make ``PutFunction`` time out.
        """
        async with self._limiter(profile, pool):
            worker = await Worker.start(profile, python=self.python, cgroups=self.cgroups, uid=self._uids.next())
            try:
                yield worker
            finally:
                with anyio.CancelScope(shield=True):
                    await worker.close()
