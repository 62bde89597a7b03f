"""``invoke --json``: every message of the stream as one JSON line on stdout.

Each line is an object with one key naming the message, like InvokeResponse's oneof
(``started``, ``event``, ``call``, ``host_request``, ``result``), holding the proto's fields; ``*_json`` fields
appear decoded under their short name (``data``, ``value``).
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from airlock.client import Call, Event, Result, Started
from airlock.domain.invocation import HostRequest, Outbound
from gateway.cli.answers import Answer
from runner import exact_json


def _raw(value_json: bytes) -> orjson.Fragment:
    # Embedded as received: no re-parsing, so large integers and key order survive exactly.
    return orjson.Fragment(value_json or b"null")


def message_json(message: Outbound) -> dict[str, Any]:
    """The JSON object of one message."""
    if isinstance(message, Started):
        return {
            "started": {
                "invocation_id": message.invocation_id,
                "function_id": message.function_id,
                "function_sha256": message.function_sha256,
                "profile": message.profile,
                "timeout": message.timeout,
                "call_timeout": message.call_timeout,
            }
        }
    if isinstance(message, Event):
        return {"event": {"seq": message.seq, "type": message.type, "data": _raw(message.data_json)}}
    if isinstance(message, Call):
        return {
            "call": {
                "seq": message.seq,
                "call_id": message.call_id,
                "type": message.type,
                "data": _raw(message.data_json),
                "timeout": message.timeout,
            }
        }
    if isinstance(message, HostRequest):
        return {
            "host_request": {
                "seq": message.seq,
                "request_id": message.request_id,
                "method": message.method,
                "args": _raw(message.args_json),
                "stream": message.stream,
                "timeout": message.timeout,
            }
        }
    return {"result": _result_json(message)}


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "outcome": result.outcome.name,
        "value": _raw(result.value_json),
        "error": result.error,
        "error_type": result.error_type,
        "traceback": result.traceback,
        "output": result.output,
        "output_truncated": result.output_truncated,
        "usage": {
            "wall_ms": result.usage.wall_ms,
            "cpu_ms": result.usage.cpu_ms,
            "peak_memory_bytes": result.usage.peak_memory_bytes,
        },
    }


class JsonLinesPrinter:
    """Prints each message as a JSON line; answers are not printed (they are not server messages)."""

    def show(self, message: Outbound) -> None:
        """Print one message."""
        click.echo(exact_json.dumps(message_json(message)).decode())

    def answered(self, call: Call, answer: Answer) -> None:
        """Nothing: the transcript holds what the gateway sent."""

    def end_line(self) -> None:
        """Nothing: every line is complete."""
