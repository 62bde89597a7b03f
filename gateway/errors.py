"""Airlock's own errors: one flat module, one root (gateway/servicer/status.py maps them to gRPC codes).

Errors raised by plugin code are not here: they are data (``Outcome.FUNCTION_ERROR``).
"""

from __future__ import annotations


class AirlockError(Exception):
    """Root of every error Airlock raises on purpose; the message is for the caller."""


class InvalidRequest(AirlockError):
    """The request is malformed: a bad id, invalid JSON, an out-of-range value."""


class FunctionLoadError(InvalidRequest):
    """A function's source does not load; the message is the plugin's own error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"function failed to load: {error_type}: {message}")
        self.error_type = error_type
        self.plugin_message = message


class InvalidValves(InvalidRequest):
    """Valves do not validate against the function's Valves model."""


class NotFound(AirlockError):
    """A function or action id that is not registered."""


class FailedPrecondition(AirlockError):
    """The request is well-formed but the target's state forbids it (inactive, wrong kind)."""


class ProtocolError(AirlockError):
    """The host misused an Invoke stream (no Start first, a second Start, bad reply JSON)."""

    def __init__(self, message: str, *, invalid_argument: bool = False) -> None:
        super().__init__(message)
        self.invalid_argument = invalid_argument


class ResourceExhausted(AirlockError):
    """A size or capacity limit refuses the request."""


class Overloaded(ResourceExhausted):
    """Admission refused an invocation for now; the caller may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, reason: str, retry_after: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class DeadlineExceeded(AirlockError):
    """The caller took too long (an Invoke stream without a Start)."""


class Unavailable(AirlockError):
    """The gateway is draining for shutdown: the caller should go to another gateway."""


class WorkerFailed(AirlockError):
    """A worker process could not be started or broke its protocol during a registry call."""


class ProfileError(AirlockError):
    """A sandbox profile file is invalid or a profile name is unknown."""


class PackageRefused(FailedPrecondition):
    """A requirement, or a package pulled in by one, is refused by the operator's lists."""


class InstallFailed(FailedPrecondition):
    """Installing a function's requirements failed; the message ends with pip's own error."""
