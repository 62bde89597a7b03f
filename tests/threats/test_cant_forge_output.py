"""Hostile output: whatever a plugin writes to the gateway is parsed as data and judged.

The plugin owns the worker's end of the frame channel (fd 4) and can write any bytes to it.
The gateway reads frames with a bounded length, parses them with orjson (valid UTF-8 JSON
only) and validates them strictly (no extra fields, only the ops that belong to an
invocation); any violation is a CRASHED verdict and the sandbox is killed, the gateway stays
up. The gateway never reads the sandbox's files, so a planted symlink leads nowhere.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from airlock.client import AirlockClient, Outcome
from gateway.server import Gateway
from tests.helpers import sandbox_gone
from tests.threats.probe import Attacked, attack, while_holding

pytestmark = [pytest.mark.anyio]


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def forge(client: AirlockClient, payload: bytes, **kw: Any) -> Attacked:
    attacked = await attack(client, "forge", "raw_frame", payload=base64.b64encode(payload).decode(), **kw)
    assert await sandbox_gone(attacked.sandbox)
    return attacked


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            b'{"op":"event","type":"\xff\xfe","data":null}',
            "the worker broke the protocol: a frame is not valid UTF-8 JSON",
        ),
        (b'{"op":"ready"}', "the worker broke the protocol: unexpected 'ready' frame during an invocation"),
        # Asking the gateway to write uid maps is a confinement step, never a plugin's.
        (b'{"op":"unshared"}', "the worker broke the protocol: unexpected 'unshared' frame during an invocation"),
        # Compiled code is accepted only before the plugin's code has run (the first frame).
        (
            b'{"op":"compiled","code":"AAAA"}',
            "the worker broke the protocol: unexpected 'compiled' frame during an invocation",
        ),
        (
            b'{"op":"load_error","error_type":"ImportError","error":"forged"}',
            "the worker broke the protocol: unexpected 'load_error' frame during an invocation",
        ),
        (
            b'{"op":"reply","call_id":"1","value":"forged"}',
            "the worker broke the protocol: an invalid frame (: Input tag 'reply' found using 'op' does not match",
        ),
        (
            b'{"op":"result","ok":true,"value":"forged","invocation_id":"another"}',
            "the worker broke the protocol: an invalid frame (result.invocation_id: Extra inputs are not permitted)",
        ),
        (
            b'{"op":"event","type":"x","seq":1}',
            "the worker broke the protocol: an invalid frame (event.seq: Extra inputs are not permitted)",
        ),
        (b"[1, 2]", "the worker broke the protocol: an invalid frame (: Input should be a valid dictionary"),
        (
            b'{"op":"event","type":"x","data":' + b"[" * 300 + b"]" * 300 + b"}",
            "the worker broke the protocol: a frame is nested too deeply to forward",
        ),
    ],
    ids=["invalid_utf8", "ready", "unshared", "compiled_late", "load_error", "reply",
         "result_for_another_invocation", "event_with_seq", "not_an_object", "deeply_nested"],
)  # fmt: skip
async def test_cant_forge_frames(client: AirlockClient, payload: bytes, error: str) -> None:
    result = (await forge(client, payload)).result
    assert result.outcome is Outcome.CRASHED, result
    assert result.error_type == "ProtocolViolation"
    assert result.error.startswith(error), result.error
    assert (await attack(client, "exhaust", "benign")).value == "fine"


async def test_cant_announce_a_giant_frame(client: AirlockClient) -> None:
    result = (await forge(client, b"xx", length=2**31)).result
    assert result.outcome is Outcome.OUTPUT_LIMIT
    assert result.error == "a frame of 2147483648 bytes exceeds frame_bytes=65536"


async def test_cant_end_inside_a_frame(client: AirlockClient) -> None:
    result = (await forge(client, b'{"op":"ev', length=100, then="exit")).result
    assert result.outcome is Outcome.CRASHED
    assert result.error == "the worker broke the protocol: the channel ended inside a frame"


async def test_cant_forge_frames_through_stdout(client: AirlockClient) -> None:
    frame = b'{"op":"result","ok":true,"value":"forged"}'
    attacked = await attack(client, "forge", "frames_on_stdout", payload=base64.b64encode(frame).decode())
    # Printed bytes are output, never frames: the real return value wins.
    assert attacked.value == "the real result"
    assert attacked.result.output.count('{"op":"result","ok":true,"value":"forged"}') == 2


async def test_cant_write_into_the_gateways_frames(client: AirlockClient, sandbox_mode: str) -> None:
    attacked = await attack(client, "forge", "write_channel_in")
    # fd 3 only reads: the read end of a pipe (spawned worker), or a socket shut for writing
    # (forked worker).
    assert attacked.value == ("EBADF" if sandbox_mode == "fresh" else "EPIPE")


async def test_cant_abandon_another_invocations_call(client: AirlockClient) -> None:
    async def abandon_meanwhile(_: str, data: Any) -> Attacked:
        assert data == {"question": "still there?"}
        # The holder's call is "1" inside its worker: the forger claims "1" and "2" as its own.
        return await attack(client, "forge", "abandon_foreign_call", call_ids=["1", "2"])

    holder, forger = await while_holding(client, "forge", "ask", abandon_meanwhile, question="still there?")
    assert forger.value == "abandoned"
    assert holder.value == "released"


async def test_cant_make_the_gateway_follow_a_planted_symlink(
    client: AirlockClient, gateway: Gateway, tmp_path: Path
) -> None:
    beside_data = names_in(gateway.config.data_dir.parent)
    target = tmp_path / "host-target.txt"
    target.write_text("untouched")
    before = target.stat()
    links = {name: str(target) for name in ("output", "result.json", "stdout", "core", "function_forge.py")}
    links["passwd"] = "/etc/passwd"
    attacked = await attack(client, "forge", "plant_symlinks", links=links)
    # Inside, the link dangles: the host path does not exist there.
    assert attacked.value == {"planted": sorted(links), "write through": "ENOENT"}
    after = target.stat()
    assert target.read_text() == "untouched"
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (before.st_mtime_ns, before.st_size, before.st_ino)
    assert names_in(tmp_path) == ["host-target.txt"]
    assert names_in(gateway.config.data_dir.parent) == beside_data == ["data", "profiles"]
