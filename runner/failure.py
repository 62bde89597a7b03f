"""Turn a plugin's exception into result data (runs in the sandbox).

Errors in plugin code are data, not Airlock errors. The traceback keeps only frames of the
plugin's own source, so it shows the author their code and never a path of the runtime.
"""

from __future__ import annotations

import traceback
from typing import Any

from runner import wire

#: Caps matching the gateway's frame schema (gateway/sandbox/frames.py): a plugin's huge
#: exception message is its own business, and must not turn its error into a crash.
MAX_TYPE_CHARS = 256
MAX_MESSAGE_CHARS = 16_384
MAX_TRACEBACK_CHARS = 65_536
_TRUNCATED = "... (truncated)"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - len(_TRUNCATED), 0)] + _TRUNCATED


def describe(exc: BaseException, filename: str) -> dict[str, Any]:
    """The ``result`` frame fields for ``exc`` raised by the plugin in ``filename``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    message = _clip(str(exc) or type(exc).__name__, MAX_MESSAGE_CHARS)
    error_type = _clip(type(exc).__name__, MAX_TYPE_CHARS)
    lines = [*traceback.format_list(frames), f"{error_type}: {message}\n"]
    return {
        "ok": False,
        "error_type": error_type,
        "error": message,
        "traceback": _clip("".join(lines), MAX_TRACEBACK_CHARS) if frames else "",
    }


def fit(frame: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """Shorten the traceback, then the message, until the frame fits in ``max_bytes``.

    An error report that is too large for a frame would otherwise end the invocation as
    OUTPUT_LIMIT; the plugin's error is the more useful answer.
    """
    while len(wire.encode(frame)) > max_bytes:
        key = "traceback" if frame.get("traceback") else "error"
        text = frame[key]
        if len(text) <= len(_TRUNCATED):
            break
        frame = {**frame, key: _clip(text, len(text) // 2)}
    return frame


def report(op: str, error_type: str, message: str, max_bytes: int, **extra: Any) -> dict[str, Any]:
    """An error frame (``load_error``, ``invalid_valves``, ``result``) clipped to fit."""
    frame = {"op": op, "error_type": _clip(error_type, MAX_TYPE_CHARS), "error": _clip(message, MAX_MESSAGE_CHARS)}
    return fit({**frame, **extra}, max_bytes)
