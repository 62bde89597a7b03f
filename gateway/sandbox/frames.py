"""Validation of frames that come out of a worker: hostile input, checked strictly.

Everything a worker sends is parsed as data (orjson, which rejects invalid UTF-8) and then
validated here with strict types and no extra fields, so a forged or malformed frame is a
protocol violation rather than a surprise later on. Values the gateway must forward are
also checked with ``runner.wire.forwardable`` (orjson reads 1024 levels, writes 254).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Name = Annotated[str, Field(min_length=1, max_length=256)]


class UnsharedFrame(BaseModel):
    """The worker entered its namespaces and waits for the gateway to write its id maps."""

    model_config = _STRICT
    op: Literal["unshared"]


class ReadyFrame(BaseModel):
    """The worker is confined and waits for its job."""

    model_config = _STRICT
    op: Literal["ready"]


class EventFrame(BaseModel):
    """An ``__event_emitter__`` event."""

    model_config = _STRICT
    op: Literal["event"]
    type: Name
    data: Any = None


class CallFrame(BaseModel):
    """An ``__event_call__`` request; the worker waits for a reply with the same call_id."""

    model_config = _STRICT
    op: Literal["call"]
    call_id: Annotated[str, Field(min_length=1, max_length=32)]
    type: Name
    data: Any = None


class HostRequestFrame(BaseModel):
    """An ``open_webui`` stand-in asks the host (a HostRequest); replies carry the same call_id.

    ``call_id`` shares the worker's id space with calls. The method is checked against the
    host's capabilities by the gateway, whatever the worker claims to have checked.
    """

    model_config = _STRICT
    op: Literal["host_request"]
    call_id: Annotated[str, Field(min_length=1, max_length=32)]
    method: Name
    args: dict[str, Any]
    stream: bool = False


class CallAbandonedFrame(BaseModel):
    """The plugin stopped waiting for a call or host request (``wait_for`` gave up, a task was cancelled)."""

    model_config = _STRICT
    op: Literal["call_abandoned"]
    call_id: Annotated[str, Field(min_length=1, max_length=32)]


class ResultFrame(BaseModel):
    """The action's outcome: a value, or the plugin's exception."""

    model_config = _STRICT
    op: Literal["result"]
    ok: bool
    value: Any = None
    error_type: Annotated[str, Field(max_length=256)] = ""
    error: Annotated[str, Field(max_length=65_536)] = ""
    traceback: Annotated[str, Field(max_length=262_144)] = ""


class SubActionInfo(BaseModel):
    """One entry of a function's ``actions`` class attribute."""

    model_config = _STRICT
    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^.]+$")]
    name: Annotated[str, Field(max_length=512)]
    icon_url: Annotated[str, Field(max_length=65_536)] | None


class FunctionInfo(BaseModel):
    """What a worker found in a function's source."""

    model_config = _STRICT
    kind: Literal["pipe", "filter", "action", "event"]
    name: Annotated[str, Field(max_length=512)]
    description: Annotated[str, Field(max_length=65_536)]
    frontmatter: dict[str, str]
    icon_url: Annotated[str, Field(max_length=65_536)] | None
    valves_schema: dict[str, Any] | None
    user_valves_schema: dict[str, Any] | None
    default_valves: dict[str, Any] | None
    valves: dict[str, Any] | None
    priority: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
    actions: list[SubActionInfo]
    declares_actions: bool


class InspectedFrame(BaseModel):
    """Answer to an ``inspect`` job."""

    model_config = _STRICT
    op: Literal["inspected"]
    info: FunctionInfo


class LoadErrorFrame(BaseModel):
    """The source failed to load; the message is the plugin's."""

    model_config = _STRICT
    op: Literal["load_error"]
    error_type: Annotated[str, Field(max_length=256)]
    error: Annotated[str, Field(max_length=65_536)]


class InvalidValvesFrame(BaseModel):
    """The valves of an ``inspect`` job did not validate."""

    model_config = _STRICT
    op: Literal["invalid_valves"]
    error: Annotated[str, Field(max_length=65_536)]


class CompiledFrame(BaseModel):
    """The module code the worker compiled for its job, offered to the gateway's code cache.

    A worker that had to compile sends it (``code`` None when too large) before any of the
    plugin's code runs, so it is accepted only as the first frame of a job sent without
    cached code; the gateway never decodes it, it only hands it to later workers.
    """

    model_config = _STRICT
    op: Literal["compiled"]
    code: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9+/]+={0,2}$")] | None


class InstalledPackage(BaseModel):
    """One package pip installed (name and version as its metadata says, checked for shape)."""

    model_config = _STRICT
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")]
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9._+!-]{1,200}$")]


class InstalledFrame(BaseModel):
    """Answer to an ``install`` job: pip's outcome and the packages it installed.

    ``error`` is a summary; pip's own message is in the captured output.
    """

    model_config = _STRICT
    op: Literal["installed"]
    ok: bool
    packages: Annotated[list[InstalledPackage], Field(max_length=1000)]
    error: Annotated[str, Field(max_length=4096)]


Frame = Annotated[
    ReadyFrame
    | UnsharedFrame
    | CompiledFrame
    | EventFrame
    | CallFrame
    | HostRequestFrame
    | CallAbandonedFrame
    | ResultFrame
    | InspectedFrame
    | LoadErrorFrame
    | InvalidValvesFrame
    | InstalledFrame,
    Field(discriminator="op"),
]
FRAME: TypeAdapter[Frame] = TypeAdapter(Frame)
