"""Protobuf ↔ domain conversion on the client's side, and the tables both sides share.

The client converts what it sends and what it receives here; the gateway's servicer
converts its own direction (validating what callers send) in gateway.servicer.convert and
takes the enum tables and durations from this module, so that both sides spell the
protocol the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.domain import invocation as domain
from airlock.domain.functions import ActionButton, FunctionRecord, SubAction
from airlock.domain.progress import Progress, Stage
from airlock.domain.usage import Usage
from runner import exact_json

#: FunctionRecord.requirements_state → Requirements.State.
REQUIREMENT_STATES = {
    "": pb.Requirements.STATE_UNSPECIFIED,
    "ready": pb.Requirements.STATE_READY,
    "skipped": pb.Requirements.STATE_SKIPPED,
    "failed": pb.Requirements.STATE_FAILED,
}
_STATE_NAMES = {value: name for name, value in REQUIREMENT_STATES.items()}
#: Stage → PutProgress.Stage.
STAGES = {stage: pb.PutProgress.Stage.Value(f"STAGE_{stage.name}") for stage in Stage}


def duration(seconds: float) -> Duration:
    """A Duration message of ``seconds``."""
    message = Duration()
    message.FromTimedelta(timedelta(seconds=seconds))
    return message


def _loads_or_none(raw: bytes) -> Any:
    return exact_json.loads(raw) if raw else None


def function_from_proto(message: pb.Function) -> FunctionRecord:
    """Function → FunctionRecord (client side)."""
    return FunctionRecord(
        id=message.id,
        source=message.source,
        sha256=message.sha256,
        name=message.name,
        kind=message.kind,
        profile=message.profile,
        description=message.description,
        icon_url=message.icon_url or None,
        manifest=dict(message.manifest),
        valves=_loads_or_none(message.valves_json),
        default_valves=_loads_or_none(message.default_valves_json),
        valves_schema=_loads_or_none(message.valves_schema_json),
        user_valves_schema=_loads_or_none(message.user_valves_schema_json),
        actions=tuple(SubAction(a.id, a.name, a.icon_url or None) for a in message.actions),
        declares_actions=message.declares_actions,
        priority=message.priority,
        is_active=message.is_active,
        is_global=message.is_global,
        model_ids=tuple(message.model_ids),
        created_at_ms=message.created_at_ms,
        updated_at_ms=message.updated_at_ms,
        requirements=tuple(message.requirements.specs),
        requirements_digest=message.requirements.digest,
        requirements_state=_STATE_NAMES.get(message.requirements.state, ""),
        requirements_installed=tuple(message.requirements.installed),
        requirements_error=message.requirements.error,
    )


def put_progress_from_proto(message: pb.PutProgress) -> Progress:
    """PutProgress → Progress (client side)."""
    stage = next(stage for stage, value in STAGES.items() if value == message.stage)
    return Progress(stage, message.message)


def action_button_from_proto(message: pb.ActionButton) -> ActionButton:
    """ActionButton message → ActionButton (client side)."""
    return ActionButton(message.id, message.name, message.description, message.icon_url or None, message.priority)


def _dumps_or_empty(value: Any, given: bool) -> bytes:
    return exact_json.dumps(value) if given else b""


def start_to_proto(start: domain.StartRequest) -> pb.Start:
    """StartRequest → Start (client side)."""
    message = pb.Start(
        action_id=start.action_id,
        body_json=exact_json.dumps(start.body),
        user_json=exact_json.dumps(start.user),
        user_valves_json=exact_json.dumps(start.user_valves),
        model_json=_dumps_or_empty(start.model, start.model is not None),
        request_json=exact_json.dumps(start.request),
        metadata_json=exact_json.dumps(start.metadata),
        request_id=start.request_id,
        host_capabilities=sorted(start.host_capabilities),
        valves_json=_dumps_or_empty(start.valves, start.valves is not None),
    )
    if start.call_timeout is not None:
        message.call_timeout.CopyFrom(duration(start.call_timeout))
    if start.timeout is not None:
        message.timeout.CopyFrom(duration(start.timeout))
    return message


def outbound_from_proto(message: pb.InvokeResponse) -> domain.Outbound:
    """InvokeResponse → a domain message (client side)."""
    kind = message.WhichOneof("msg")
    if kind == "event":
        e = message.event
        return domain.Event(e.seq, e.type, e.data_json)
    if kind == "call":
        c = message.call
        return domain.Call(c.seq, c.call_id, c.type, c.data_json, c.timeout.ToTimedelta().total_seconds())
    if kind == "host_request":
        h = message.host_request
        return domain.HostRequest(
            h.seq, h.request_id, h.method, h.args_json, h.stream, h.timeout.ToTimedelta().total_seconds()
        )
    if kind == "started":
        s = message.started
        return domain.Started(
            s.invocation_id,
            s.function_id,
            s.function_sha256,
            s.profile,
            s.timeout.ToTimedelta().total_seconds(),
            s.call_timeout.ToTimedelta().total_seconds(),
        )
    if kind == "result":
        r = message.result
        return domain.Result(
            outcome=domain.Outcome[pb.Outcome.Name(r.outcome)],
            usage=Usage(r.usage.wall_ms, r.usage.cpu_ms, r.usage.peak_memory_bytes),
            value_json=r.value_json,
            error=r.error,
            error_type=r.error_type,
            traceback=r.traceback,
            output=r.output,
            output_truncated=r.output_truncated,
        )
    raise ValueError("an InvokeResponse with no message set")
