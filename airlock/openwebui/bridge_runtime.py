# The body of every Open WebUI bridge: `airlock openwebui` copies this module's text
# into each bridge it writes, followed by the function's own constants and class.
#
# Open WebUI exec()s a bridge inside its own server process, so this text may import only
# what Open WebUI's environment holds (the standard library, grpc, protobuf, pydantic and
# open_webui itself), never the airlock package: an admin pastes a bridge into Open WebUI
# and nothing else. A failure here must never take Open WebUI down: every problem becomes
# a message for the user, and the server goes on.
"""Run one Open WebUI click in Airlock: one Invoke stream, relayed both ways."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import inspect
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory
from pydantic import BaseModel, ConfigDict, Field, create_model

#: How long a click waits to reach Airlock before it tells the user Airlock is unreachable.
CONNECT_SECONDS = 5.0
#: How long the gateway may take to accept the invocation (admission, a sandbox free).
STARTED_SECONDS = 30.0
_INVOKE = "/airlock.v1.Runtime/Invoke"
#: How often a click checks that the browser's request is still there.
_WATCH_SECONDS = 0.5

#: The Open WebUI internals a plugin may ask for, and where they live in Open WebUI.
_TABLES = {
    "users": ("open_webui.models.users", "Users"),
    "chats": ("open_webui.models.chats", "Chats"),
    "files": ("open_webui.models.files", "Files"),
    "models": ("open_webui.models.models", "Models"),
}
_LOOKUPS = {
    "users.get_user_by_id",
    "chats.get_chat_by_id",
    "files.get_file_by_id",
    "models.get_model_by_id",
    "models.get_models_by_ids",
    "models.get_all_models",
    "models.get_models",
    "models.get_base_models",
}

#: The lookups by id, and the field naming the record's owner (None: records of no user).
_BY_ID = {
    "users.get_user_by_id": "id",
    "chats.get_chat_by_id": "user_id",
    "files.get_file_by_id": "user_id",
    "models.get_model_by_id": None,
}

#: What each Result outcome other than OK and FUNCTION_ERROR tells the user.
_VERDICTS = {
    "TIMEOUT": "ran out of time",
    "MEMORY_LIMIT": "ran out of memory",
    "CPU_LIMIT": "used up its CPU time",
    "OUTPUT_LIMIT": "produced more output than allowed",
    "CRASHED": "crashed",
    "CANCELLED": "was cancelled",
}


class AirlockUnavailable(Exception):
    """Airlock could not run the click: unreachable, refused, draining or over a limit."""


class _Messages:
    """The Airlock API's messages, built from the descriptor embedded in the bridge.

    Bridges carry the API's compiled descriptor instead of generated modules, so they need
    nothing installed beside Open WebUI. A private pool keeps them apart from any other
    copy of these messages in the process.
    """

    def __init__(self, descriptor_b64: str) -> None:
        pool = descriptor_pool.DescriptorPool()
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(duration_pb2.DESCRIPTOR.serialized_pb))
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(descriptor_b64)))
        self.request = _message_class(pool, "airlock.v1.InvokeRequest")
        self.response = _message_class(pool, "airlock.v1.InvokeResponse")
        self.outcomes = {v.number: v.name for v in pool.FindEnumTypeByName("airlock.v1.Outcome").values}


def _message_class(pool: Any, name: str) -> Any:
    # GetMessageClass: protobuf 4.22 and later (Open WebUI 0.12.4 ships 6.x).
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


_messages: dict[str, _Messages] = {}


def messages(descriptor_b64: str) -> _Messages:
    """The message classes of this descriptor (built once per process)."""
    if descriptor_b64 not in _messages:
        _messages[descriptor_b64] = _Messages(descriptor_b64)
    return _messages[descriptor_b64]


# --- The plugin's Valves, as Open WebUI shows them ---------------------------------------

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _python_type(schema: dict[str, Any]) -> Any:
    """A lenient Python type for a JSON schema property: the sandbox validates for real."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kinds = [o.get("type") for o in options if isinstance(o, dict)]
        others = [k for k in kinds if k != "null"]
        if len(others) == 1 and others[0] in _JSON_TYPES and len(kinds) == len(options):
            return _JSON_TYPES[others[0]] | None if "null" in kinds else _JSON_TYPES[others[0]]
        return Any
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES and "enum" not in schema:
        python = _JSON_TYPES[kind]
        # pydantic would turn 1 into 1.0 for a float field; JSON numbers may be integers.
        return float | int if python is float else python
    return Any


def valves_model(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model whose JSON schema is the plugin's own, verbatim.

    Open WebUI builds its Valves forms from ``Valves.schema()``: returning the plugin's
    schema shows its fields, defaults, descriptions and choices exactly. The fields here
    only carry the defaults (``valves.priority`` orders buttons) and keep values of the
    right JSON type; the plugin's own model validates them in the sandbox on every call.
    """
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for key, prop in properties.items():
        if not isinstance(prop, dict) or not key.isidentifier() or key.startswith("_"):
            continue
        default = ... if key in required else prop.get("default")
        fields[key] = (_python_type(prop), Field(default=default, description=prop.get("description")))
    frozen_schema = json.loads(json.dumps(schema))

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(frozen_schema))
        return copy

    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="allow"), __module__=globals().get("__name__", "airlock_bridge"), **fields
    )
    model.model_json_schema = classmethod(model_json_schema)  # type: ignore[assignment,method-assign]
    return model


def dump_valves(valves: Any) -> dict[str, Any] | None:
    """The values Open WebUI set on a Valves or UserValves instance (None when there are none)."""
    if valves is None:
        return None
    if isinstance(valves, BaseModel):
        return valves.model_dump(mode="json")
    if isinstance(valves, dict):
        return dict(valves)
    return None


# --- Converting Open WebUI's arguments to the Start message ------------------------------


def _to_json(value: Any) -> bytes:
    """JSON bytes of a value Open WebUI handed over (pydantic models and sets included)."""

    def fallback(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json")
        if isinstance(item, (set, frozenset, tuple)):
            return list(item)
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        return str(item)

    return json.dumps(value, default=fallback, ensure_ascii=False).encode()


#: Headers that carry the user's Open WebUI credentials.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})


def _credential_cookie(name: str) -> bool:
    lowered = name.lower()
    return "token" in lowered or "session" in lowered


def describe_request(request: Any) -> dict[str, Any]:
    """__request__ (a starlette Request) as Start.request_json describes one, without credentials.

    The user's session token (the Authorization header, Open WebUI's ``token`` cookie and
    the OAuth session cookies) stays in Open WebUI: with it a sandboxed plugin could act as
    the user there. What plugins do with it upstream, calling Open WebUI back, they do
    through host requests, answered here as that user.
    """
    if request is None:
        return {}
    described: dict[str, Any] = {
        "method": str(request.method),
        "url": str(request.url),
        "headers": {k: v for k, v in request.headers.items() if k.lower() not in _CREDENTIAL_HEADERS},
        "query_params": dict(request.query_params),
        "cookies": {k: v for k, v in request.cookies.items() if not _credential_cookie(k)},
    }
    if request.client is not None:
        described["client"] = {"host": str(request.client.host), "port": int(request.client.port or 0)}
    return described


# --- Answering host requests with Open WebUI's own internals -----------------------------


def _table(name: str) -> Any:
    module, attribute = _TABLES[name]
    return getattr(importlib.import_module(module), attribute)


def capabilities() -> list[str]:
    """The host requests this Open WebUI can answer: exactly the internals that import."""
    found: list[str] = []
    try:
        importlib.import_module("open_webui.utils.chat").generate_chat_completion  # noqa: B018
        found.append("generate_chat_completion")
    except (ImportError, AttributeError):
        pass
    for method in sorted(_LOOKUPS):
        table, _, call = method.partition(".")
        try:
            if callable(getattr(_table(table), call)):
                found.append(method)
        except (ImportError, AttributeError):
            continue
    return found


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _record(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_record(v) for v in value]
    return value


class HostAnswers:
    """Answers a sandboxed plugin's host requests for the user who clicked.

    The plugin runs sandboxed because it is not trusted with Open WebUI's process, so it
    is not trusted with more of Open WebUI's data than the clicking user may see either:
    completions always run as that user with model access checks on (a plugin's
    ``bypass_filter`` and the user it names are not taken), and a user who is not an admin
    gets only their own user, chat and file records.
    """

    def __init__(self, request: Any, user: dict[str, Any]) -> None:
        self.request = request
        self.user_id = str(user.get("id") or "")
        self.is_admin = user.get("role") == "admin"

    async def _live_user(self) -> Any:
        user = await _maybe_await(_table("users").get_user_by_id(self.user_id))
        if user is None:
            raise LookupError("the user who clicked is not in Open WebUI's database")
        return user

    def _visible(self, record: Any, owner_field: str) -> Any:
        if record is None or self.is_admin:
            return record
        owner = getattr(record, owner_field, None)
        if owner is None and isinstance(record, dict):
            owner = record.get(owner_field)
        if str(owner) != self.user_id:
            raise PermissionError("this record belongs to another user")
        return record

    async def lookup(self, method: str, args: dict[str, Any]) -> Any:
        """One ``users.*``/``chats.*``/``files.*``/``models.*`` request."""
        table, _, call = method.partition(".")
        function = getattr(_table(table), call)
        if method in _BY_ID:
            found = await _maybe_await(function(str(args.get("id"))))
            owner = _BY_ID[method]
            return _record(self._visible(found, owner) if owner else found)
        if method == "models.get_models_by_ids":
            return _record(await _maybe_await(function([str(i) for i in args.get("ids") or []])))
        # The rest take keyword arguments, each left out when the plugin gave none.
        keywords = {k: v for k, v in args.items() if k in {"writable_by_user_id", "ids", "tag"} and v is not None}
        return _record(await _maybe_await(function(**keywords)))

    async def completion(self, args: dict[str, Any]) -> Any:
        """generate_chat_completion with the live request, as the user who clicked."""
        named = args.get("user")
        if isinstance(named, dict) and named.get("id") not in {None, self.user_id}:
            raise PermissionError("completions run as the user who clicked, not as another user")
        generate = importlib.import_module("open_webui.utils.chat").generate_chat_completion
        form_data = args.get("form_data") or {}
        return await generate(
            self.request,
            form_data,
            await self._live_user(),
            bypass_filter=False,
            bypass_system_prompt=bool(args.get("bypass_system_prompt")),
        )


async def completion_chunks(response: Any) -> Any:
    """The chunks of a streamed completion (a StreamingResponse of ``data: ...`` lines)."""
    pending = ""
    async for piece in response.body_iterator:
        pending += piece.decode() if isinstance(piece, bytes) else str(piece)
        *lines, pending = pending.split("\n")
        for line in lines:
            chunk = _sse_data(line)
            if chunk is not None:
                yield chunk
    chunk = _sse_data(pending)
    if chunk is not None:
        yield chunk


def _sse_data(line: str) -> Any:
    line = line.strip()
    if not line.startswith("data:"):
        return None
    data = line[len("data:") :].strip()
    if not data or data == "[DONE]":
        return None
    return json.loads(data)


def _plain(value: Any) -> Any:
    """A completion's value: a JSON response's body, else the value itself."""
    body = getattr(value, "body", None)
    status = getattr(value, "status_code", 200)
    if isinstance(body, (bytes, bytearray)):
        decoded = json.loads(body) if body else None
        if status >= 400:
            raise RuntimeError(f"Open WebUI answered {status}: {decoded}")
        return decoded
    return _record(value)


# --- One click ---------------------------------------------------------------------------


class Connection:
    """Where Airlock is, and how to prove who we are: kept in the bridge, never sent on."""

    def __init__(self, settings: dict[str, Any]) -> None:
        # The Open WebUI process's environment wins, so that an admin can point every bridge
        # elsewhere, or keep the token out of the bridges' sources, without editing them.
        self.address = os.environ.get("AIRLOCK_ADDRESS") or str(settings.get("address") or "")
        self.token = os.environ.get("AIRLOCK_TOKEN") or settings.get("token") or None
        ca_file = os.environ.get("AIRLOCK_TLS_CA_FILE")
        self.tls_ca: bytes | None = None
        if ca_file:
            with open(ca_file, "rb") as f:
                self.tls_ca = f.read()
        elif settings.get("tls_ca_pem"):
            self.tls_ca = str(settings["tls_ca_pem"]).encode()
        self.tls = self.tls_ca is not None or bool(settings.get("tls"))

    def channel(self) -> grpc.aio.Channel:
        """A new channel to Airlock (one per click: clicks are seconds apart, not microseconds)."""
        if not self.address:
            raise AirlockUnavailable("this bridge has no Airlock address (set AIRLOCK_ADDRESS)")
        if self.tls:
            return grpc.aio.secure_channel(self.address, grpc.ssl_channel_credentials(root_certificates=self.tls_ca))
        return grpc.aio.insecure_channel(self.address)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call's credentials."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


Emitter = Callable[[dict[str, Any]], Awaitable[Any]]


class Click:
    """One click: Start, then events, calls and host requests relayed until the Result."""

    def __init__(
        self,
        descriptor_b64: str,
        connection: Connection,
        emit: Emitter | None,
        ask: Callable[[dict[str, Any]], Awaitable[Any]] | None,
        answers: HostAnswers,
    ) -> None:
        self.pb = messages(descriptor_b64)
        self.connection = connection
        self.emit = emit
        self.ask = ask
        self.answers = answers
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        #: The Open WebUI request went away and the invocation was cancelled for it.
        self.went_away = False

    async def run(self, start: dict[str, Any]) -> Any:
        """Invoke, relay, and return the Result message."""
        channel = self.connection.channel()
        try:
            await self._connect(channel)
            invoke: Any = channel.stream_stream(
                _INVOKE,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=self.pb.response.FromString,
            )
            call = invoke(metadata=self.connection.metadata())
            self._spawn(self._watch_request(call))
            try:
                return await self._relay(call, start)
            except asyncio.CancelledError:
                # The request went away (Open WebUI cancelled the click): end the sandbox now.
                call.cancel()
                raise
            finally:
                for task in self._tasks:
                    task.cancel()
        except grpc.aio.AioRpcError as exc:
            raise AirlockUnavailable(_status_message(exc, self.connection.address)) from None
        finally:
            await channel.close()

    async def _connect(self, channel: grpc.aio.Channel) -> None:
        """Wait until connected; a refused connection fails at once, a silent one in seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_SECONDS
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                how = "connection or TLS handshake failed" if self.connection.tls else "connection failed"
                raise AirlockUnavailable(f"cannot reach Airlock at {self.connection.address} ({how})")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AirlockUnavailable(
                    f"cannot reach Airlock at {self.connection.address} within {CONNECT_SECONDS:.0f} s"
                )
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                continue
            state = channel.get_state(try_to_connect=True)

    async def _write(self, call: Any, **fields: Any) -> None:
        async with self._write_lock:
            await call.write(self.pb.request(**fields))

    async def _relay(self, call: Any, start: dict[str, Any]) -> Any:
        await self._write(call, start=start)
        first = await asyncio.wait_for(call.read(), STARTED_SECONDS)
        if first is grpc.aio.EOF:
            raise AirlockUnavailable("Airlock ended the invocation before it started")
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                raise AirlockUnavailable("Airlock ended the invocation without a result")
            kind = message.WhichOneof("msg")
            if kind == "event":
                await self._event(message.event)
            elif kind == "call":
                self._spawn(self._answer_call(call, message.call))
            elif kind == "host_request":
                self._spawn(self._answer_host(call, message.host_request))
            elif kind == "result":
                await call.done_writing()
                return message.result

    async def _watch_request(self, call: Any) -> None:
        # Open WebUI never cancels an action whose request went away (the coroutine runs
        # on), so the bridge watches the connection itself and cancels the invocation.
        request = self.answers.request
        if request is None or not hasattr(request, "is_disconnected"):
            return
        while not await request.is_disconnected():  # noqa: ASYNC110 - polled: ASGI has no disconnect callback
            await asyncio.sleep(_WATCH_SECONDS)
        self.went_away = True
        await self._write(call, cancel={"reason": "the Open WebUI request went away"})

    def _spawn(self, coroutine: Any) -> None:
        # Calls and host requests wait for a person or a model: answered in tasks of their
        # own, so that the plugin's events keep flowing meanwhile, in order.
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _event(self, event: Any) -> None:
        if self.emit is None:
            return
        data = json.loads(event.data_json) if event.data_json else None
        await self.emit({"type": event.type, "data": data})

    async def _answer_call(self, call: Any, request: Any) -> None:
        data = json.loads(request.data_json) if request.data_json else None
        if self.ask is None:
            value: Any = None
        else:
            value = await self.ask({"type": request.type, "data": data})
        await self._write(call, call_reply={"call_id": request.call_id, "value_json": _to_json(value)})

    async def _answer_host(self, call: Any, request: Any) -> None:
        reply_id = request.request_id
        args = json.loads(request.args_json) if request.args_json else {}
        try:
            if request.method == "generate_chat_completion":
                value = await self.answers.completion(args)
                if request.stream and hasattr(value, "body_iterator"):
                    async for chunk in completion_chunks(value):
                        await self._write(
                            call, host_reply={"request_id": reply_id, "value_json": _to_json(chunk), "more": True}
                        )
                    await self._write(call, host_reply={"request_id": reply_id})
                    return
                value = _plain(value)
            else:
                value = await self.answers.lookup(request.method, args)
        except Exception as exc:  # noqa: BLE001 - the plugin gets the failure, Open WebUI stays up
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await self._write(call, host_reply={"request_id": reply_id, "error": error})
            return
        await self._write(call, host_reply={"request_id": reply_id, "value_json": _to_json(value)})


_STATUS_MESSAGES = {
    grpc.StatusCode.UNAUTHENTICATED: "Airlock refused this bridge's credentials: check its token (AIRLOCK_TOKEN)",
    grpc.StatusCode.PERMISSION_DENIED: "Airlock refused this bridge: {details}",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "Airlock is busy: {details}",
    grpc.StatusCode.NOT_FOUND: "Airlock does not know this function: {details}",
    grpc.StatusCode.FAILED_PRECONDITION: "Airlock cannot run this function: {details}",
    grpc.StatusCode.UNAVAILABLE: "Airlock at {address} is unavailable (restarting or draining); try again shortly",
}


def _status_message(exc: grpc.aio.AioRpcError, address: str) -> str:
    code = exc.code()
    template = _STATUS_MESSAGES.get(code, "Airlock failed (" + code.name + "): {details}")
    return template.format(details=exc.details() or "", address=address).rstrip(": ")


def _plugin_error(error_type: str, message: str) -> Exception:
    """The plugin's exception as Open WebUI would have seen it: same class name, same message."""
    name = error_type if error_type.isidentifier() else "PluginError"
    error: Exception = type(name, (Exception,), {"__module__": "airlock.sandbox"})(message)
    return error


async def _notify(emit: Emitter | None, content: str) -> None:
    if emit is None:
        return
    # Best effort: a closed socket must not turn a verdict into Open WebUI's error.
    with contextlib.suppress(Exception):
        await emit({"type": "notification", "data": {"type": "error", "content": content}})


async def run_click(
    *,
    descriptor_b64: str,
    settings: dict[str, Any],
    action_id: str,
    title: str,
    valves: Any,
    body: Any,
    user: Any,
    event_emitter: Emitter | None,
    event_call: Callable[[dict[str, Any]], Awaitable[Any]] | None,
    model: Any,
    request: Any,
    metadata: Any,
) -> Any:
    """Everything the bridge's ``action`` does: run the click in Airlock, return or raise as the plugin."""
    user = dict(user or {})
    user_valves = dump_valves(user.pop("valves", None)) or {}
    start: dict[str, Any] = {
        "action_id": action_id,
        "body_json": _to_json(body if body is not None else {}),
        "user_json": _to_json(user),
        "user_valves_json": _to_json(user_valves),
        "request_json": _to_json(describe_request(request)),
        "host_capabilities": capabilities(),
    }
    if model is not None:
        start["model_json"] = _to_json(model)
    if isinstance(metadata, dict):
        start["metadata_json"] = _to_json(metadata)
    admin_valves = dump_valves(valves)
    if admin_valves is not None:
        start["valves_json"] = _to_json(admin_valves)
    connection = Connection(settings)
    click = Click(descriptor_b64, connection, event_emitter, event_call, HostAnswers(request, user))
    try:
        result = await click.run(start)
    except AirlockUnavailable as exc:
        # Open WebUI shows a raised action's message to the user ("Error: ..."), as for the
        # plugin's own errors; the server itself is untouched.
        raise AirlockUnavailable(f"{title}: {exc}") from None
    outcome = click.pb.outcomes.get(result.outcome, "OUTCOME_UNSPECIFIED")
    if outcome == "OK":
        return json.loads(result.value_json) if result.value_json else None
    if outcome == "FUNCTION_ERROR":
        raise _plugin_error(result.error_type, result.error)
    if outcome == "CANCELLED" and click.went_away:
        return None  # nobody is left to tell
    # A limit is not the plugin's error: the user gets a notification naming it, and the
    # click returns nothing, as an action that returns nothing.
    verdict = _VERDICTS.get(outcome, "failed")
    detail = f": {result.error}" if result.error else ""
    await _notify(event_emitter, f"{title} {verdict} in its sandbox ({outcome}){detail}")
    return None
