"""What a host sends is forwarded to a sandbox in one frame: max_message_bytes stays within it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import MIB, GatewayConfig
from gateway.sandbox.worker import MAX_JOB_BYTES


def test_max_message_bytes_is_bounded_by_what_a_sandbox_reads() -> None:
    limit = GatewayConfig.model_fields["max_message_bytes"].metadata
    largest = next(m.le for m in limit if hasattr(m, "le"))
    # A job frame carries the Start's values and the stored valves (each at most one
    # message) and the source: twice the largest message leaves the source its room.
    assert 2 * largest + 8 * MIB <= MAX_JOB_BYTES
    assert GatewayConfig(max_message_bytes=largest).max_message_bytes == largest
    with pytest.raises(ValidationError, match="less than or equal to 16777216"):
        GatewayConfig(max_message_bytes=largest + 1)
