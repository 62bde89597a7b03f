"""click parameter types of the CLI: JSON values given inline or as ``@file``, and HOST:PORT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from runner import exact_json


class JsonValue(click.ParamType[Any]):
    """A JSON text, or ``@path`` to read it from a file; the parsed value is passed on.

    Invalid JSON is a usage error naming the option, raised before any gRPC call, so a typo
    never reaches the gateway as a half-built request.
    """

    name = "json"

    def __init__(self, *, object_only: bool = False) -> None:
        self.object_only = object_only

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        """How the help shows the expected value."""
        return "JSON|@FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse ``value`` (reading the file first for ``@path``)."""
        if not isinstance(value, str):
            return value  # a default that is already a Python value
        text = value
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.fail(f"cannot read {path}: {exc}", param, ctx)
        try:
            parsed = exact_json.loads(text)
        except orjson.JSONDecodeError as exc:
            self.fail(f"not valid JSON: {exc}", param, ctx)
        if self.object_only and not isinstance(parsed, dict):
            self.fail(f"must be a JSON object, got {type(parsed).__name__}", param, ctx)
        return parsed


class HostPort(click.ParamType[str]):
    """``HOST:PORT`` with a port from 0 to 65535 (0 lets the system pick one)."""

    name = "host:port"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        """How the help shows the expected value."""
        return "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Check the shape; the string itself is passed on unchanged."""
        host, _, port = str(value).rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            self.fail(f"{value!r} is not HOST:PORT", param, ctx)
        return str(value)
