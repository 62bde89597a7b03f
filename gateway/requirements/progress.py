"""Reporting a registration's progress as it happens (the stages are airlock.domain.progress)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from airlock.domain.progress import Progress

#: Receives progress as it happens (awaited: a slow caller slows the registration down).
Reporter = Callable[[Progress], Awaitable[None]]


async def ignore(progress: Progress) -> None:
    """A reporter for callers that do not watch progress (the unary PutFunction)."""
