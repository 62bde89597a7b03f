"""Hands out workers per profile, bounded by each profile's ``max_concurrent``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from gateway.profiles import Profile
from gateway.sandbox.worker import Worker


class Launcher:
    """Starts workers; one capacity limiter per profile."""

    def __init__(self, *, python: str | None = None, temp_root: Path | None = None) -> None:
        self.python = python or sys.executable
        self.temp_root = temp_root
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    def _limiter(self, profile: Profile) -> anyio.CapacityLimiter:
        limiter = self._limiters.get(profile.name)
        if limiter is None:
            limiter = self._limiters[profile.name] = anyio.CapacityLimiter(profile.max_concurrent)
        return limiter

    @asynccontextmanager
    async def worker(self, profile: Profile) -> AsyncIterator[Worker]:
        """A ready worker for one job; killed and cleaned up on exit, whatever happened."""
        async with self._limiter(profile):
            worker = await Worker.start(profile, python=self.python, temp_root=self.temp_root)
            try:
                yield worker
            finally:
                with anyio.CancelScope(shield=True):
                    await worker.close()
