"""Bounded label values: plugins choose event and call types freely, metrics must not.

A label value taken verbatim from untrusted input would let one plugin create a time series
per event it sends and exhaust the gateway's (and Prometheus's) memory. Known types keep
their name; everything else is counted as ``other``.
"""

from __future__ import annotations

from airlock.domain.invocation import Outcome
from runner.wire import HOST_METHODS

OTHER = "other"

#: The event types Open WebUI's chat UI understands (SEMANTICS.md), both spellings.
EVENT_TYPES = frozenset(
    {
        "status",
        "chat:message:delta",
        "message",
        "chat:message",
        "replace",
        "chat:message:files",
        "files",
        "chat:message:embeds",
        "embeds",
        "chat:title",
        "chat:tags",
        "source",
        "citation",
        "notification",
        "chat:completion",
        "chat:message:error",
        "chat:message:follow_ups",
    }
)
#: The ``__event_call__`` types with a meaning in Open WebUI.
CALL_TYPES = frozenset({"confirmation", "input", "execute"})

#: Outcomes that mean a limit killed the sandbox, by the kind of limit.
LIMIT_KINDS = {
    Outcome.TIMEOUT: "wall_time",
    Outcome.CPU_LIMIT: "cpu",
    Outcome.MEMORY_LIMIT: "memory",
    Outcome.OUTPUT_LIMIT: "output",
}


def event_type(name: str) -> str:
    """The label value of an event type."""
    return name if name in EVENT_TYPES else OTHER


def call_type(name: str) -> str:
    """The label value of a call type."""
    return name if name in CALL_TYPES else OTHER


def host_method(name: str) -> str:
    """The label value of a host request method (a worker may send any name)."""
    return name if name in HOST_METHODS else OTHER


def outcome(value: Outcome) -> str:
    """The label value of an outcome (``ok``, ``function_error``, ...)."""
    return value.name.lower()
