"""Protobuf ↔ domain conversion at the servicer's edge: requests validated, responses built.

The client's direction (and the enum tables both sides share) is airlock.convert.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.convert import REQUIREMENT_STATES, STAGES, duration
from airlock.domain import invocation as domain
from airlock.domain.functions import ActionButton, FunctionRecord, PutRequest
from airlock.domain.progress import Progress
from gateway.errors import InvalidRequest, ProtocolError
from runner import exact_json
from runner.wire import HOST_METHODS, forwardable

MAX_REQUEST_ID_CHARS = 128
#: Longest Start.user_json id: it keys the per-user admission count and goes into every
#: invocation's log line, so a host (or whoever controls the id) must not make it unbounded.
#: Open WebUI's ids are UUIDs (36 characters); 256 leaves room for other hosts' schemes.
MAX_USER_ID_CHARS = 256
MAX_CANCEL_REASON_CHARS = 1024
MAX_HOST_ERROR_CHARS = 16 * 1024


class _RequestDescription(BaseModel):
    """The shape of Start.request_json (what __request__ is built from)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    method: str = "POST"
    url: str = ""
    headers: dict[str, str] = {}
    query_params: dict[str, str] | None = None
    cookies: dict[str, str] = {}
    client: _Client | None = None


class _Client(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    host: str
    port: int = 0


_RequestDescription.model_rebuild()


def _json(raw: bytes, field: str, default: Any) -> Any:
    if not raw:
        return default
    try:
        value = exact_json.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{field} is not valid UTF-8 JSON: {exc}") from None
    if not forwardable(value):
        raise InvalidRequest(f"{field} is nested too deeply (Airlock forwards at most 250 levels)")
    return value


def _json_object(raw: bytes, field: str) -> dict[str, Any]:
    value = _json(raw, field, {})
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object, got {type(value).__name__}")
    return value


def _user(raw: bytes) -> dict[str, Any]:
    """Start.user_json, whose ``id`` (if any) must be a string of at most MAX_USER_ID_CHARS."""
    user = _json_object(raw, "Start.user_json")
    user_id = user.get("id")
    if user_id is not None and not isinstance(user_id, str):
        raise InvalidRequest(f"Start.user_json.id must be a string, got {type(user_id).__name__}")
    if user_id is not None and len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidRequest(f"Start.user_json.id has more than {MAX_USER_ID_CHARS} characters ({len(user_id)})")
    return user


def _seconds(message: Any, field: str) -> float | None:
    if not message.HasField(field):
        return None
    try:
        value = getattr(message, field).ToTimedelta().total_seconds()
    except (OverflowError, ValueError):
        raise InvalidRequest(f"Start.{field} is out of range") from None
    if value < 0:
        raise InvalidRequest(f"Start.{field} must not be negative")
    return value or None


# -- registry ------------------------------------------------------------------------


def put_request(request: pb.PutFunctionRequest) -> PutRequest:
    """PutFunctionRequest → PutRequest."""
    valves = _json_object(request.valves_json, "valves_json") if request.valves_json else None
    return PutRequest(
        id=request.id,
        source=request.source,
        profile=request.profile,
        is_active=request.is_active,
        is_global=request.is_global,
        model_ids=tuple(request.model_ids),
        valves=valves,
    )


def valves(raw: bytes) -> dict[str, Any]:
    """UpdateValvesRequest.valves_json → a dict (required)."""
    if not raw:
        raise InvalidRequest("valves_json is required (send {} to reset every valve to its default)")
    return _json_object(raw, "valves_json")


def _dumps(value: dict[str, Any] | None) -> bytes:
    return exact_json.dumps(value) if value is not None else b""


def function(record: FunctionRecord, *, with_source: bool = True) -> pb.Function:
    """FunctionRecord → Function."""
    return pb.Function(
        id=record.id,
        name=record.name,
        kind=record.kind,
        sha256=record.sha256,
        manifest=record.manifest,
        valves_json=_dumps(record.valves),
        valves_schema_json=_dumps(record.valves_schema),
        user_valves_schema_json=_dumps(record.user_valves_schema),
        actions=[pb.SubAction(id=a.id, name=a.name, icon_url=a.icon_url or "") for a in record.actions],
        declares_actions=record.declares_actions,
        priority=record.priority,
        profile=record.profile,
        is_active=record.is_active,
        is_global=record.is_global,
        model_ids=record.model_ids,
        default_valves_json=_dumps(record.default_valves),
        description=record.description,
        icon_url=record.icon_url or "",
        source=record.source if with_source else "",
        created_at_ms=record.created_at_ms,
        updated_at_ms=record.updated_at_ms,
        requirements=_requirements(record),
    )


def _requirements(record: FunctionRecord) -> pb.Requirements:
    return pb.Requirements(
        specs=record.requirements,
        digest=record.requirements_digest,
        state=REQUIREMENT_STATES[record.requirements_state],
        error=record.requirements_error,
        installed=record.requirements_installed,
    )


def put_progress(progress: Progress) -> pb.PutFunctionProgress:
    """Progress → PutFunctionProgress (one stage of a registration)."""
    return pb.PutFunctionProgress(progress=pb.PutProgress(stage=STAGES[progress.stage], message=progress.message))


def action_button(button: ActionButton) -> pb.ActionButton:
    """ActionButton → ActionButton message."""
    return pb.ActionButton(
        id=button.id,
        name=button.name,
        description=button.description,
        icon_url=button.icon_url or "",
        priority=button.priority,
    )


# -- runtime ---------------------------------------------------------------------------


def start(message: pb.Start) -> domain.StartRequest:
    """Start → StartRequest, rejecting malformed fields with the field's name."""
    if len(message.request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidRequest(f"Start.request_id has more than {MAX_REQUEST_ID_CHARS} characters")
    request = _json_object(message.request_json, "Start.request_json")
    try:
        request = _RequestDescription.model_validate(request).model_dump(exclude_unset=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"Start.request_json.{where}: {first['msg']}") from None
    unknown = sorted(set(message.host_capabilities) - HOST_METHODS)
    if unknown:
        raise InvalidRequest(
            f"Start.host_capabilities: unknown method(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(HOST_METHODS))})"
        )
    return domain.StartRequest(
        action_id=message.action_id,
        body=_json_object(message.body_json, "Start.body_json"),
        user=_user(message.user_json),
        user_valves=_json_object(message.user_valves_json, "Start.user_valves_json"),
        model=_json(message.model_json, "Start.model_json", None),
        request=request,
        metadata=_json_object(message.metadata_json, "Start.metadata_json"),
        request_id=message.request_id,
        call_timeout=_seconds(message, "call_timeout"),
        timeout=_seconds(message, "timeout"),
        host_capabilities=frozenset(message.host_capabilities),
        valves=_json_object(message.valves_json, "Start.valves_json") if message.valves_json else None,
    )


def _host_reply(reply: pb.HostReply) -> domain.HostReply:
    if not reply.request_id:
        raise ProtocolError("HostReply.request_id is required", invalid_argument=True)
    try:
        value = _json(reply.value_json, "HostReply.value_json", None)
    except InvalidRequest as exc:
        raise ProtocolError(str(exc), invalid_argument=True) from None
    return domain.HostReply(reply.request_id, value, reply.error[:MAX_HOST_ERROR_CHARS], reply.more)


def inbound(message: pb.InvokeRequest) -> domain.Inbound:
    """InvokeRequest → a domain message; ProtocolError when it cannot be understood."""
    kind = message.WhichOneof("msg")
    if kind == "start":
        try:
            return start(message.start)
        except InvalidRequest as exc:
            raise ProtocolError(str(exc), invalid_argument=True) from None
    if kind == "call_reply":
        reply = message.call_reply
        if not reply.call_id:
            raise ProtocolError("CallReply.call_id is required", invalid_argument=True)
        try:
            value = _json(reply.value_json, "CallReply.value_json", None)
        except InvalidRequest as exc:
            raise ProtocolError(str(exc), invalid_argument=True) from None
        return domain.CallReply(reply.call_id, value)
    if kind == "host_reply":
        return _host_reply(message.host_reply)
    if kind == "cancel":
        return domain.CancelRequest(message.cancel.reason[:MAX_CANCEL_REASON_CHARS])
    raise ProtocolError(
        "an InvokeRequest with none of start, call_reply, host_reply, cancel set", invalid_argument=True
    )


def outbound(message: domain.Outbound) -> pb.InvokeResponse:
    """A domain message → InvokeResponse."""
    if isinstance(message, domain.Event):
        return pb.InvokeResponse(event=pb.Event(seq=message.seq, type=message.type, data_json=message.data_json))
    if isinstance(message, domain.Call):
        return pb.InvokeResponse(
            call=pb.Call(
                seq=message.seq,
                call_id=message.call_id,
                type=message.type,
                data_json=message.data_json,
                timeout=duration(message.timeout),
            )
        )
    if isinstance(message, domain.HostRequest):
        return pb.InvokeResponse(
            host_request=pb.HostRequest(
                seq=message.seq,
                request_id=message.request_id,
                method=message.method,
                args_json=message.args_json,
                stream=message.stream,
                timeout=duration(message.timeout),
            )
        )
    if isinstance(message, domain.Started):
        return pb.InvokeResponse(
            started=pb.Started(
                invocation_id=message.invocation_id,
                function_id=message.function_id,
                function_sha256=message.function_sha256,
                profile=message.profile,
                timeout=duration(message.timeout),
                call_timeout=duration(message.call_timeout),
            )
        )
    usage = message.usage
    return pb.InvokeResponse(
        result=pb.Result(
            outcome=pb.Outcome.Value(message.outcome.name),
            value_json=message.value_json,
            error=message.error,
            error_type=message.error_type,
            usage=pb.Usage(wall_ms=usage.wall_ms, cpu_ms=usage.cpu_ms, peak_memory_bytes=usage.peak_memory_bytes),
            traceback=message.traceback,
            output=message.output,
            output_truncated=message.output_truncated,
        )
    )
