"""Frames between the gateway and a worker: shared by both sides (runs in both).

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON, always an
object with an ``op`` member; integers of any size are written and read exactly
(runner.exact_json). JSON and not pickle/marshal because whatever comes out of a
worker is hostile input: the gateway must be able to parse it without executing anything.

Gateway → worker ops: ``inspect``, ``invoke``, ``reply``, ``host_reply``.
Worker → gateway ops: ``ready``, ``inspected``, ``load_error``, ``invalid_valves``, ``event``,
``call``, ``host_request``, ``call_abandoned`` (the plugin stopped waiting for a call or a
host request), ``result``.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Final

import orjson

from runner import exact_json

HEADER: Final = struct.Struct(">I")
#: orjson's own limit is 1024 levels; frames are refused well before recursion matters.
JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS

#: The message Open WebUI returns from ``__event_call__`` when nobody answers in time.
CALL_TIMEOUT_VALUE: Final = {"error": "Event call timed out. The browser tab may be inactive or closed."}
#: The message Open WebUI returns from ``__event_call__`` when no client can answer.
CALL_DISCONNECTED_VALUE: Final = {"error": "Client session disconnected."}

#: Open WebUI internals the sandbox's ``open_webui`` stand-ins ask the host for
#: (``host_request`` frames, HostRequest messages). A host lists those it answers in
#: ``Start.host_capabilities``.
HOST_METHODS: Final = frozenset(
    {
        "generate_chat_completion",
        "users.get_user_by_id",
        "chats.get_chat_by_id",
        "files.get_file_by_id",
        "models.get_model_by_id",
        "models.get_models_by_ids",
        "models.get_all_models",
        "models.get_models",
        "models.get_base_models",
    }
)


def forwardable(value: Any) -> bool:
    """Whether ``value`` can travel inside a frame.

    orjson parses up to 1024 levels of nesting but writes at most 254, and frames wrap a
    value in up to two containers; a deeper value is refused where it enters, with a clear
    error, instead of failing later while it is being forwarded. Integers of any size are
    (runner.exact_json).
    """
    try:
        exact_json.dumps([[value]])
    except TypeError:
        return False
    return True


class FrameError(Exception):
    """A frame is malformed, too large, or the stream ended inside one."""


def encode(message: dict[str, Any], default: Any = None) -> bytes:
    """Serialise ``message`` as one frame (header + JSON)."""
    payload = exact_json.dumps(message, default=default, option=JSON_OPTIONS)
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> dict[str, Any]:
    """Parse a frame's payload; it must be a JSON object with a string ``op``."""
    try:
        message = exact_json.loads(payload)
    except exact_json.DecodeError as exc:
        raise FrameError(f"frame is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise FrameError("frame is not a JSON object with a string 'op'")
    return message


def write_frame(fd: int, frame: bytes) -> None:
    """Write a whole encoded frame to a blocking file descriptor."""
    view = memoryview(frame)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exactly(fd: int, size: int) -> bytes | None:
    """Read ``size`` bytes from a blocking fd; None on a clean EOF before the first byte."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            if remaining == size:
                return None
            raise FrameError("stream ended inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, max_bytes: int) -> dict[str, Any] | None:
    """Read and parse one frame from a blocking fd; None on EOF between frames."""
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > max_bytes:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {max_bytes}")
    payload = read_exactly(fd, length)
    if payload is None:
        raise FrameError("stream ended inside a frame")
    return decode(payload)
