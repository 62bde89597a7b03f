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
import math
import os
import urllib.parse
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
#: A click may wait minutes on its user (a confirmation): pings tell a dead connection
#: from a quiet one, within the gateway's allowance (one per 10 s at most).
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
]
#: Host requests of one click answered at once; more wait their turn (a plugin in a loop
#: must not take Open WebUI's database pool or model connections from everyone else).
_HOST_CONCURRENCY = 4
#: Requests of one click waiting or running beyond which new ones are refused at once.
_HOST_BACKLOG = 64
#: How often a click checks that the browser's request is still there.
_WATCH_SECONDS = 0.5

#: The Open WebUI internals a plugin may ask for, and where they live in Open WebUI.
_TABLES = {
    "users": ("open_webui.models.users", "Users"),
    "chats": ("open_webui.models.chats", "Chats"),
    "files": ("open_webui.models.files", "Files"),
    "models": ("open_webui.models.models", "Models"),
}
#: The lookups a bridge answers: runner.wire.HOST_METHODS less generate_chat_completion
#: (a bridge imports nothing of Airlock; tests/unit/test_bridge_source.py keeps the two equal).
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
        # Names pydantic cannot take as fields (model_*, BaseModel's own attributes) stay
        # in the schema shown, without a field here: the sandbox's model has them.
        if not isinstance(prop, dict) or not key.isidentifier() or key.startswith(("_", "model_")):
            continue
        if hasattr(BaseModel, key):
            continue
        default = ... if key in required else prop.get("default")
        fields[key] = (_python_type(prop), Field(default=default, description=prop.get("description")))
    frozen_schema = _static_options(json.loads(json.dumps(schema)))

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(frozen_schema))
        return copy

    module = globals().get("__name__", "airlock_bridge")

    def make(with_fields: dict[str, Any]) -> type[BaseModel]:
        made: type[BaseModel] = create_model(
            name, __config__=ConfigDict(extra="allow"), __module__=module, **with_fields
        )
        return made

    try:
        model = make(fields)
    except Exception:  # noqa: BLE001 - a bridge must load whatever the schema holds
        model = make({})
    model.model_json_schema = classmethod(model_json_schema)  # type: ignore[assignment,method-assign]
    return model


def _static_options(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without dynamic choice lists, which the bridge cannot compute.

    A plugin's ``input: {"options": "<method>"}`` makes Open WebUI call that method of the
    Valves class to fill a drop-down; the method lives in the sandbox, not in the bridge
    (and a name such as ``mro`` would reach a builtin). The field stays a plain input.
    """
    for prop in (schema.get("properties") or {}).values():
        widget = prop.get("input") if isinstance(prop, dict) else None
        if isinstance(widget, dict) and isinstance(widget.get("options"), str):
            del widget["options"]
    return schema


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
    """JSON bytes of a value Open WebUI handed over (pydantic models and sets included).

    What the gateway would refuse as JSON never goes out: NaN and infinities become null,
    and a lone surrogate (possible in a Python str, never in UTF-8) becomes "?".
    """

    def fallback(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json")
        if isinstance(item, (set, frozenset, tuple)):
            return list(item)
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        return str(item)

    try:
        text = json.dumps(value, default=fallback, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(json.loads(json.dumps(value, default=fallback))), ensure_ascii=False)
    return text.encode("utf-8", "replace")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


#: Parts of a header's or cookie's name that mark it as a credential. A deny-list of
#: names would miss a proxy's own (oauth2-proxy's X-Auth-Request-Access-Token, Cloudflare
#: Access's Cf-Access-Jwt-Assertion, Proxy-Authorization ...): anything that looks like one goes.
_CREDENTIAL_WORDS = ("auth", "token", "jwt", "key", "secret", "session", "cookie", "signature", "credential", "pass")


def _credential(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def describe_request(request: Any) -> dict[str, Any]:
    """__request__ (a starlette Request) as Start.request_json describes one, without credentials.

    The user's credentials (the Authorization header, Open WebUI's ``token`` cookie, OAuth
    session cookies, a proxy's tokens; in headers, cookies and the query alike) stay in Open
    WebUI: with them a sandboxed plugin could act as the user there. What plugins use them
    for upstream, calling Open WebUI back, they do through host requests, answered here as
    that user.
    """
    if request is None:
        return {}
    query = [(k, v) for k, v in request.query_params.multi_items() if not _credential(k)]
    described: dict[str, Any] = {
        "method": str(request.method),
        "url": str(request.url.replace(query=urllib.parse.urlencode(query))),
        "headers": {k: v for k, v in request.headers.items() if not _credential(k)},
        "query_params": dict(query),
        "cookies": {k: v for k, v in request.cookies.items() if not _credential(k)},
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
    """Answers a sandboxed plugin's host requests, as the user who clicked may see things.

    The plugin runs sandboxed because it is not trusted with Open WebUI's process, so it is
    not trusted with more of Open WebUI's data than the clicking user may see through Open
    WebUI's own API either (upstream's in-process plugins could read anything):

    * completions run as that user with Open WebUI's model access checks; the plugin's
      ``bypass_filter``, ``bypass_system_prompt``, ``metadata`` (which would point a pipe's
      events at any chat) and any other user it names are not taken;
    * a user's record: only the clicking user's own, unless an admin clicked;
    * a chat: the user's own, or any chat for an admin while ENABLE_ADMIN_CHAT_ACCESS is on;
    * a file: the user's own, an admin's pick, or one Open WebUI's has_access_to_file grants;
    * models: an admin's every row; anyone else's own rows and those granting them read
      access, with ``writable_by_user_id`` always the clicking user.
    """

    def __init__(self, request: Any, user: dict[str, Any]) -> None:
        self.request = request
        self.user_id = str(user.get("id") or "")
        self.is_admin = user.get("role") == "admin"
        self._user: Any = None

    async def _live_user(self) -> Any:
        if self._user is None:
            self._user = await _maybe_await(_table("users").get_user_by_id(self.user_id))
            if self._user is None:
                raise LookupError("the user who clicked is not in Open WebUI's database")
        return self._user

    async def lookup(self, method: str, args: dict[str, Any]) -> Any:
        """One ``users.*``/``chats.*``/``files.*``/``models.*`` request."""
        # The gateway lets through only the methods this bridge advertised, but the bridge
        # does not depend on that: it calls nothing outside its own list.
        if method not in _LOOKUPS:
            raise PermissionError(f"this bridge does not answer {method!r}")
        table, _, call = method.partition(".")
        function = getattr(_table(table), call)
        if method == "users.get_user_by_id":
            found = await _maybe_await(function(str(args.get("id"))))
            return _record(self._own(found, "id", allowed=self.is_admin))
        if method == "chats.get_chat_by_id":
            found = await _maybe_await(function(str(args.get("id"))))
            return _record(self._own(found, "user_id", allowed=self.is_admin and _admin_chat_access()))
        if method == "files.get_file_by_id":
            found = await _maybe_await(function(str(args.get("id"))))
            return _record(await self._file(found))
        if method == "models.get_model_by_id":
            found = await _maybe_await(function(str(args.get("id"))))
            return _record(found if found is None or await self._may_read_model(found) else self._refuse())
        if method == "models.get_models_by_ids":
            rows = await _maybe_await(function([str(i) for i in args.get("ids") or []]))
        elif method == "models.get_models":
            ids = args.get("ids")
            keywords: dict[str, Any] = {}
            if args.get("writable_by_user_id") is not None:
                # Writable by whom is the clicking user's question, never another user's.
                keywords["writable_by_user_id"] = self.user_id
            if ids is not None:
                keywords["ids"] = [str(i) for i in ids]
            rows = await _maybe_await(function(**keywords))
        elif method == "models.get_base_models":
            rows = await _maybe_await(function(**({"tag": str(args["tag"])} if args.get("tag") is not None else {})))
        else:
            rows = await _maybe_await(function())
        return _record([row for row in rows or [] if await self._may_read_model(row)])

    @staticmethod
    def _refuse() -> Any:
        raise PermissionError("this record is not visible to the user who clicked")

    def _own(self, record: Any, owner_field: str, *, allowed: bool) -> Any:
        if record is None or allowed or str(_field(record, owner_field)) == self.user_id:
            return record
        return self._refuse()

    async def _file(self, record: Any) -> Any:
        if record is None or self.is_admin or str(_field(record, "user_id")) == self.user_id:
            return record
        check = importlib.import_module("open_webui.utils.access_control.files").has_access_to_file
        if await check(str(_field(record, "id")), "read", await self._live_user()):
            return record
        return self._refuse()

    async def _may_read_model(self, row: Any) -> bool:
        if self.is_admin or str(_field(row, "user_id")) == self.user_id:
            return True
        grants = [_record(g) for g in (_field(row, "access_grants") or [])]
        has_access = importlib.import_module("open_webui.utils.access_control").has_access
        return bool(await has_access(self.user_id, "read", grants))

    async def completion(self, args: dict[str, Any]) -> Any:
        """generate_chat_completion with the live request, as the user who clicked."""
        named = args.get("user")
        if isinstance(named, dict) and named.get("id") not in {None, self.user_id}:
            raise PermissionError("completions run as the user who clicked, not as another user")
        generate = importlib.import_module("open_webui.utils.chat").generate_chat_completion
        form_data = dict(args.get("form_data") or {})
        # metadata names the chat, message and user a pipe's events and database writes go
        # to: a plugin could aim them at anyone's chat. Without it a pipe emits nothing.
        form_data.pop("metadata", None)
        return await generate(self.request, form_data, await self._live_user(), bypass_filter=False)


def _field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _admin_chat_access() -> bool:
    try:
        return bool(importlib.import_module("open_webui.env").ENABLE_ADMIN_CHAT_ACCESS)
    except (ImportError, AttributeError):
        return False


async def completion_chunks(response: Any) -> Any:
    """The chunks of a streamed completion (a StreamingResponse of ``data: ...`` lines)."""
    pending = ""
    # Closed as soon as the plugin stops reading or the click ends: the model's connection
    # is released then, not when the garbage collector gets to it.
    async with contextlib.aclosing(response.body_iterator) as pieces:
        async for piece in pieces:
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
            credentials = grpc.ssl_channel_credentials(root_certificates=self.tls_ca)
            return grpc.aio.secure_channel(self.address, credentials, options=_CHANNEL_OPTIONS)
        return grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS)

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
        self._host_slots = asyncio.Semaphore(_HOST_CONCURRENCY)
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
        try:
            first = await asyncio.wait_for(call.read(), STARTED_SECONDS)
        except TimeoutError:
            raise AirlockUnavailable(f"Airlock did not start the invocation within {STARTED_SECONDS:.0f} s") from None
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
        # Retrieved, so that a reply that could not be written (the stream ended) is not
        # logged by asyncio as an exception nobody saw: the invocation's end says it all.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _event(self, event: Any) -> None:
        if self.emit is None:
            return
        data = json.loads(event.data_json) if event.data_json else None
        await self.emit({"type": event.type, "data": data})

    async def _answer_call(self, call: Any, request: Any) -> None:
        try:
            data = json.loads(request.data_json) if request.data_json else None
            value = None if self.ask is None else await self.ask({"type": request.type, "data": data})
            value_json = _to_json(value)
        except Exception as exc:  # noqa: BLE001 - an answer must go back, or the plugin waits out its timeout
            value_json = _to_json({"error": f"{type(exc).__name__}: {exc}"})
        await self._write(call, call_reply={"call_id": request.call_id, "value_json": value_json})

    async def _answer_host(self, call: Any, request: Any) -> None:
        reply_id = request.request_id
        if len(self._tasks) > _HOST_BACKLOG:
            # A plugin asking faster than Open WebUI answers is told so, instead of piling
            # up lookups and completions in Open WebUI's process for every other user to wait on.
            await self._write(
                call, host_reply={"request_id": reply_id, "error": "Open WebUI is busy: too many requests"}
            )
            return
        try:
            async with self._host_slots:
                await self._answer_host_now(call, request)
        except Exception as exc:  # noqa: BLE001 - the plugin gets the failure, Open WebUI stays up
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await self._write(call, host_reply={"request_id": reply_id, "error": error})

    async def _answer_host_now(self, call: Any, request: Any) -> None:
        reply_id = request.request_id
        args = json.loads(request.args_json) if request.args_json else {}
        if not isinstance(args, dict):
            raise TypeError("the request's arguments are not an object")
        if request.method == "generate_chat_completion":
            value = await self.answers.completion(args)
            if request.stream and hasattr(value, "body_iterator"):
                async for chunk in completion_chunks(value):
                    reply = {"request_id": reply_id, "value_json": _to_json(chunk), "more": True}
                    await self._write(call, host_reply=reply)
                await self._write(call, host_reply={"request_id": reply_id})
                return
            value = _plain(value)
        else:
            value = await self.answers.lookup(request.method, args)
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
    # Valves set in Open WebUI travel with the click and replace Airlock's whole. Open
    # WebUI builds Valves(**stored) before every call: with nothing stored there, nothing
    # was set there, and the valves Airlock holds (say, set when the plugin was pulled) apply.
    if isinstance(valves, BaseModel) and (valves.model_fields_set or valves.model_extra):
        start["valves_json"] = _to_json(valves.model_dump(mode="json"))
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
