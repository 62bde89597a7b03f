"""Ctrl-C during an invocation: the first asks the gateway to cancel, the second stops waiting.

The first Ctrl-C must not kill the CLI: the gateway would still be running the action,
and the user would never see how it ended. So it only sets an event (the handler queues
work, nothing more); the invocation loop then sends Cancel and prints the CANCELLED result.
A second Ctrl-C cancels the CLI's own task, for a gateway that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from types import TracebackType


class Interrupts:
    """SIGINT handling for the duration of one invocation (use as ``with``, inside the loop)."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

    def __enter__(self) -> Interrupts:
        self._loop.add_signal_handler(signal.SIGINT, self.interrupt)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.remove_signal_handler(signal.SIGINT)

    def interrupt(self) -> None:
        """Record one Ctrl-C: the first requests a Cancel, a later one gives up waiting."""
        if not self.requested.is_set():
            self.requested.set()
        elif self._task is not None:
            self._task.cancel()

    @contextlib.contextmanager
    def prompting(self) -> Iterator[None]:
        """Let Ctrl-C raise KeyboardInterrupt inside a blocking terminal prompt.

        asyncio runs signal handlers between callbacks, and a prompt blocks the loop, so
        with the handler installed Ctrl-C would do nothing until Enter. Python's default
        handler interrupts ``input()`` instead; the caller turns that into ``interrupt()``.
        """
        self._loop.remove_signal_handler(signal.SIGINT)
        try:
            yield
        finally:
            self._loop.add_signal_handler(signal.SIGINT, self.interrupt)
