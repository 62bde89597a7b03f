"""The host's side of one Invoke stream, as the invocation engine sees it."""

from __future__ import annotations

from typing import Protocol

from airlock.domain.invocation import Inbound, Outbound


class MessageTooLarge(Exception):
    """A message for the host is larger than the transport takes; nothing of it was sent.

    gRPC would otherwise end the whole stream with RESOURCE_EXHAUSTED and the host would get
    no Result; refusing the one message lets the invocation end as OUTPUT_LIMIT instead.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes exceeds max_message_bytes={limit}")
        self.size = size
        self.limit = limit


class HostStream(Protocol):
    """The host's side of one Invoke stream, in domain types."""

    async def send(self, message: Outbound) -> None:
        """Deliver one message to the host, in order; MessageTooLarge if it cannot be sent."""

    async def receive(self) -> Inbound | None:
        """The host's next message; None once it has finished sending.

        Raises gateway.errors.ProtocolError for a message that cannot be understood.
        """
