"""The host's side of one Invoke stream, as the invocation engine sees it."""

from __future__ import annotations

from typing import Protocol

from airlock.domain.invocation import Inbound, Outbound


class HostStream(Protocol):
    """The host's side of one Invoke stream, in domain types."""

    async def send(self, message: Outbound) -> None:
        """Deliver one message to the host, in order."""

    async def receive(self) -> Inbound | None:
        """The host's next message; None once it has finished sending.

        Raises gateway.errors.ProtocolError for a message that cannot be understood.
        """
