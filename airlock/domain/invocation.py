"""The messages of one invocation, both directions (the servicer and the client convert protobuf to these)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from airlock.domain.usage import Usage
from runner import exact_json


class Outcome(enum.Enum):
    """How an invocation ended (values match airlock.v1.Outcome)."""

    OK = 1
    FUNCTION_ERROR = 2
    TIMEOUT = 3
    MEMORY_LIMIT = 4
    CPU_LIMIT = 5
    OUTPUT_LIMIT = 6
    CRASHED = 7
    CANCELLED = 8


@dataclass(frozen=True)
class StartRequest:
    """The host's Start message, JSON already parsed and validated."""

    action_id: str
    body: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    user_valves: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    request: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    call_timeout: float | None = None
    timeout: float | None = None
    #: Host request methods the host answers (runner.wire.HOST_METHODS).
    host_capabilities: frozenset[str] = frozenset()
    #: Admin valves replacing the stored ones for this invocation (None: the stored ones).
    valves: dict[str, Any] | None = None


@dataclass(frozen=True)
class CallReply:
    """The host's answer to one call."""

    call_id: str
    value: Any


@dataclass(frozen=True)
class HostReply:
    """The host's answer (or one chunk of it) to a host request."""

    request_id: str
    value: Any = None
    error: str = ""
    more: bool = False


@dataclass(frozen=True)
class CancelRequest:
    """The host asks to stop the invocation."""

    reason: str


@dataclass(frozen=True)
class Started:
    """First message of every invocation."""

    invocation_id: str
    function_id: str
    function_sha256: str
    profile: str
    timeout: float
    call_timeout: float


@dataclass(frozen=True)
class Event:
    """One ``__event_emitter__`` event, in order."""

    seq: int
    type: str
    data_json: bytes

    @property
    def data(self) -> Any:
        """The event's data, parsed."""
        return exact_json.loads(self.data_json or b"null")


@dataclass(frozen=True)
class Call:
    """One ``__event_call__`` the host should answer."""

    seq: int
    call_id: str
    type: str
    data_json: bytes
    timeout: float

    @property
    def data(self) -> Any:
        """The call's data, parsed."""
        return exact_json.loads(self.data_json or b"null")


@dataclass(frozen=True)
class HostRequest:
    """An Open WebUI internal the plugin called, for the host to answer."""

    seq: int
    request_id: str
    method: str
    args_json: bytes
    stream: bool
    timeout: float

    @property
    def args(self) -> Any:
        """The arguments, parsed."""
        return exact_json.loads(self.args_json or b"{}")


@dataclass(frozen=True)
class Result:
    """Last message of every invocation that got a Started."""

    outcome: Outcome
    usage: Usage
    value_json: bytes = b""
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    output: str = ""
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the action returned a value."""
        return self.outcome is Outcome.OK

    @property
    def value(self) -> Any:
        """The action's return value, parsed (None unless OK)."""
        return exact_json.loads(self.value_json) if self.value_json else None


Inbound = StartRequest | CallReply | HostReply | CancelRequest
Outbound = Started | Event | Call | HostRequest | Result
