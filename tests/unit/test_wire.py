"""Frames: encoding round trip and what the gateway refuses."""

from __future__ import annotations

import os

import orjson
import pytest
from pydantic import ValidationError

from gateway.sandbox.frames import FRAME, EventFrame, ResultFrame
from runner import wire


def test_round_trip_over_a_pipe() -> None:
    read_fd, write_fd = os.pipe()
    try:
        message = {"op": "event", "type": "status", "data": {"n": 2**63 - 1, "s": "ü"}}
        wire.write_frame(write_fd, wire.encode(message))
        os.close(write_fd)
        assert wire.read_frame(read_fd, 1024) == message
        assert wire.read_frame(read_fd, 1024) is None
    finally:
        os.close(read_fd)


def test_oversized_and_truncated_frames_are_refused() -> None:
    read_fd, write_fd = os.pipe()
    try:
        wire.write_frame(write_fd, wire.encode({"op": "x", "pad": "a" * 100}))
        with pytest.raises(wire.FrameError, match="exceeds the limit of 10"):
            wire.read_frame(read_fd, 10)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, wire.HEADER.pack(50) + b"{}")
    os.close(write_fd)
    with pytest.raises(wire.FrameError, match="ended inside a frame"):
        wire.read_frame(read_fd, 100)
    os.close(read_fd)


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"[1, 2]", b'{"no": "op"}', b"{" * 2000 + b"}" * 2000])
def test_decode_refuses_non_frames(payload: bytes) -> None:
    with pytest.raises(wire.FrameError):
        wire.decode(payload)


def test_gateway_validation_is_strict() -> None:
    assert isinstance(FRAME.validate_python({"op": "event", "type": "t"}), EventFrame)
    assert isinstance(FRAME.validate_python({"op": "result", "ok": True, "value": [1]}), ResultFrame)
    for bad in (
        {"op": "event", "type": ""},
        {"op": "event", "type": 5},
        {"op": "event", "type": "t", "forged": "field"},
        {"op": "call", "call_id": "x" * 33, "type": "t"},
        {"op": "result", "ok": "yes"},
        {"op": "inspected", "info": {"kind": "action"}},
        {"op": "unknown"},
    ):
        with pytest.raises(ValidationError):
            FRAME.validate_python(orjson.loads(orjson.dumps(bad)))
