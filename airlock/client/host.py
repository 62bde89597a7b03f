"""Answering host requests: the Open WebUI internals a plugin asks its host for.

A host passes ``host={method: handler}`` to :meth:`AirlockClient.invoke`; the methods become
``Start.host_capabilities`` and each HostRequest is answered by its handler in a task of its
own, so that a slow answer (a chat completion) never holds up events, calls or other
requests. A handler gets the :class:`HostRequest` and returns the JSON value (it may be a
coroutine); for a streamed request (``request.stream``) it may return an async iterable of
chunks instead. An exception becomes ``HostReply.error`` (``"<type>: <message>"``), which the
plugin sees raised.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any

from airlock._proto.airlock.v1 import airlock_pb2 as pb
from airlock.domain.invocation import HostRequest
from runner import exact_json

#: Answers one host request: a JSON value, or (streamed requests) an async iterable of chunks.
HostHandler = Callable[[HostRequest], Awaitable[Any] | AsyncIterable[Any] | Any]
#: Writes one HostReply on the invocation's stream.
ReplyWriter = Callable[[pb.HostReply], Awaitable[None]]


async def answer(request: HostRequest, handler: HostHandler, write: ReplyWriter) -> None:
    """Run ``handler`` for ``request`` and write its answer (or its failure) as HostReply messages."""
    request_id = request.request_id
    try:
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, AsyncIterable):
            if not request.stream:
                raise TypeError("the handler returned chunks for a request that is not streamed")
            async for chunk in result:
                await write(pb.HostReply(request_id=request_id, value_json=exact_json.dumps(chunk), more=True))
            await write(pb.HostReply(request_id=request_id))
            return
        value_json = exact_json.dumps(result)
    except Exception as exc:  # noqa: BLE001 - the plugin gets the failure, the host stays up
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await write(pb.HostReply(request_id=request_id, error=message))
        return
    await write(pb.HostReply(request_id=request_id, value_json=value_json))


def records(method: str, by_id: Mapping[str, Any]) -> dict[str, HostHandler]:
    """A handler answering a ``*.get_*_by_id`` method from fixed records (None when unknown)."""

    def lookup(request: HostRequest) -> Any:
        return by_id.get(str(request.args.get("id")))

    return {method: lookup}


def _tagged(model: Mapping[str, Any], tag: str) -> bool:
    tags = (model.get("meta") or {}).get("tags") or []
    return any((t.get("name") if isinstance(t, Mapping) else str(t)) == tag for t in tags)


def _writable_by(model: Mapping[str, Any], user_id: str) -> bool:
    """Whether the user owns the model or holds a write grant for themselves or for everyone.

    Group grants are not resolved: fixed records say nothing of who belongs to which group.
    """
    if model.get("user_id") == user_id:
        return True
    return any(
        grant.get("permission") == "write"
        and grant.get("principal_type") == "user"
        and grant.get("principal_id") in ("*", user_id)
        for grant in model.get("access_grants") or []
    )


def model_records(
    by_id: Mapping[str, Mapping[str, Any]], users: Mapping[str, Any] | None = None
) -> dict[str, HostHandler]:
    """Handlers answering every ``models.*`` method from fixed model records (id → record).

    As Open WebUI's ``Models`` does: custom models are those with a ``base_model_id``
    (``get_models``, each with its owner's id, name, role and email from ``users`` as
    ``user``, else null), base models those without (``get_base_models``, optionally
    only those with a ``meta.tags`` entry of this name).
    """
    owners = users or {}

    def owner(model: Mapping[str, Any]) -> Any:
        # Only what upstream's UserResponse shows: the plugin gets no more of a user than that.
        user = owners.get(str(model.get("user_id")))
        return None if user is None else {k: user[k] for k in ("id", "name", "role", "email") if k in user}

    def get_models_by_ids(request: HostRequest) -> Any:
        return [by_id[i] for i in dict.fromkeys(request.args.get("ids") or ()) if i in by_id]

    def get_models(request: HostRequest) -> Any:
        ids, writer = request.args.get("ids"), request.args.get("writable_by_user_id")
        return [
            {**model, "user": owner(model)}
            for model in by_id.values()
            if model.get("base_model_id") is not None
            and (ids is None or model.get("id") in ids)
            and (not writer or _writable_by(model, writer))
        ]

    def get_base_models(request: HostRequest) -> Any:
        tag = request.args.get("tag")
        return [m for m in by_id.values() if m.get("base_model_id") is None and (not tag or _tagged(m, tag))]

    return {
        **records("models.get_model_by_id", by_id),
        "models.get_models_by_ids": get_models_by_ids,
        "models.get_all_models": lambda request: list(by_id.values()),
        "models.get_models": get_models,
        "models.get_base_models": get_base_models,
    }
