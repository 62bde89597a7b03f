"""Bridges run against a real gateway, outside Open WebUI: what a click relays both ways.

tests/openwebui runs the same bridges inside a real Open WebUI server; these tests load a
bridge's source the way Open WebUI does (exec into a module namespace) and call its action
with the arguments Open WebUI passes, so that the relaying is checked quickly and in detail.
"""

from __future__ import annotations

import ast
import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from airlock.client import AirlockClient
from airlock.openwebui.bridge import BridgeError, BridgeSettings, is_bridge, render
from gateway.server import Gateway
from tests.helpers import register

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

USER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "user"}


def address(gateway: Gateway) -> str:
    return gateway.address


async def bridge_for(client: AirlockClient, gateway: Gateway, function_id: str, **settings: Any) -> Any:
    """The bridge of a registered function, loaded as Open WebUI loads a function: an instance."""
    source = render(await client.get_function(function_id), BridgeSettings(address(gateway), **settings))
    namespace: dict[str, Any] = {"__name__": f"function_{function_id}"}
    exec(compile(source, f"<bridge {function_id}>", "exec"), namespace)  # noqa: S102 - what Open WebUI does
    return namespace["Action"]()


class Recorder:
    """An __event_emitter__ and an __event_call__ that record, and answer from a list."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.answers = list(answers or [])

    async def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def ask(self, event: dict[str, Any]) -> Any:
        self.calls.append(event)
        return self.answers.pop(0)


async def test_a_bridge_source_is_a_plugin_with_the_plugins_face(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "multi")
    record = await client.get_function("multi")
    source = render(record, BridgeSettings(address(gateway)))
    assert is_bridge(source)
    assert not is_bridge(record.source)
    # Open WebUI reads frontmatter only when the very first line is the docstring's quotes.
    assert source.splitlines()[0] == '"""'
    frontmatter = source.split('"""')[1]
    assert "title: Multi" in frontmatter
    assert "icon_url: https://example.com/multi.svg" in frontmatter
    ast.parse(source)
    bridge = await bridge_for(client, gateway, "multi")
    # The buttons as Open WebUI shows them: names and icons already resolved as it resolves them.
    assert [(a["id"], a["name"], a.get("icon_url")) for a in type(bridge).actions] == [
        (a.id, a.name, a.icon_url) for a in record.actions
    ]
    assert [a["id"] for a in type(bridge).actions] == ["upper", "lower"]


async def test_events_then_the_value_in_order(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "emitter")
    bridge = await bridge_for(client, gateway, "emitter")
    recorder = Recorder()
    events = [
        {"type": "status", "data": {"description": "one", "done": False}},
        {"type": "message", "data": {"content": "two"}},
        {"type": "status", "data": {"description": "three", "done": True}},
    ]
    body = {"events": events, "return": {"n": 2**70}}
    value = await bridge.action(body, __user__=USER, __event_emitter__=recorder.emit)
    assert recorder.events == events
    assert value == {"n": 2**70}


async def test_calls_are_asked_and_answered(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "caller")
    bridge = await bridge_for(client, gateway, "caller")
    recorder = Recorder(answers=[True, "Ada"])
    calls = [
        {"type": "confirmation", "data": {"title": "Sure?", "message": "Go on?"}},
        {"type": "input", "data": {"title": "Name", "message": "Who?", "placeholder": "name"}},
    ]
    value = await bridge.action(
        {"calls": calls}, __user__=USER, __event_emitter__=recorder.emit, __event_call__=recorder.ask
    )
    assert value == [True, "Ada"]
    assert recorder.calls == calls
    assert [e["data"]["description"] for e in recorder.events] == ["answered 1", "answered 2"]


async def test_sub_actions_are_invoked_by_their_id(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "multi")
    bridge = await bridge_for(client, gateway, "multi")
    assert await bridge.action({"text": "MiXed"}, __id__="upper") == "MIXED"
    assert await bridge.action({"text": "MiXed"}, __id__="lower") == "mixed"


async def test_valves_set_in_open_webui_reach_the_plugin(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "valves", valves={"api_key": "stored-in-airlock"})
    bridge = await bridge_for(client, gateway, "valves")
    schema = type(bridge).Valves.model_json_schema()
    assert schema == (await client.get_function("valves")).valves_schema
    # Open WebUI sets Valves(**stored) before each call.
    bridge.valves = type(bridge).Valves(api_key="set-in-open-webui", retries=3)
    assert await bridge.action({}) == {"priority": 5, "api_key": "set-in-open-webui", "retries": 3}
    # Values the plugin's model refuses are refused where the plugin runs, as upstream.
    bridge.valves = type(bridge).Valves(retries=11)
    with pytest.raises(Exception, match="retries") as raised:
        await bridge.action({})
    assert type(raised.value).__name__ == "ValidationError"


async def test_user_valves_reach_the_plugin(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "special_args")
    bridge = await bridge_for(client, gateway, "special_args")
    user_valves_class = type(bridge).UserValves
    assert issubclass(user_valves_class, BaseModel)
    value = await bridge.action({}, __user__={**USER, "valves": user_valves_class(nickname="ada", shout=True)})
    assert value["user_valves"] == {"nickname": "ada", "shout": True}
    assert value["user"] == USER


async def test_a_plugin_error_is_raised_as_the_plugin_raised_it(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "raises")
    bridge = await bridge_for(client, gateway, "raises")
    with pytest.raises(Exception, match=r"cannot handle 7") as raised:
        await bridge.action({"value": 7})
    assert type(raised.value).__name__ == "ValueError"


async def test_a_limit_is_a_notification_naming_it(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "misbehave")
    bridge = await bridge_for(client, gateway, "misbehave")
    recorder = Recorder()
    value = await bridge.action({"do": "alloc"}, __event_emitter__=recorder.emit)
    assert value is None
    [notification] = [e for e in recorder.events if e["type"] == "notification"]
    assert notification["data"]["type"] == "error"
    assert notification["data"]["content"].startswith("Misbehave ran out of memory in its sandbox (MEMORY_LIMIT)")


async def test_airlock_unreachable_is_a_clear_error_at_once(client: AirlockClient, gateway: Gateway) -> None:
    await register(client, "emitter")
    bridge = await bridge_for(client, gateway, "emitter")
    namespace = type(bridge).action.__globals__
    namespace["AIRLOCK_CONNECTION"] = {**namespace["AIRLOCK_CONNECTION"], "address": "127.0.0.1:1"}
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(Exception, match=r"Emitter: cannot reach Airlock at 127\.0\.0\.1:1"):
        await bridge.action({})
    assert loop.time() - began < 10


def test_only_actions_get_bridges() -> None:
    from airlock.client import FunctionRecord  # noqa: PLC0415 - local: one test needs it

    pipe = FunctionRecord(id="p", source="", sha256="", name="P", kind="pipe", profile="default")
    with pytest.raises(BridgeError, match="only actions get bridges"):
        render(pipe, BridgeSettings("127.0.0.1:1"))


def test_the_users_credentials_stay_in_open_webui() -> None:
    from starlette.requests import Request  # noqa: PLC0415 - local: one test needs it

    from airlock.openwebui.bridge_runtime import describe_request  # noqa: PLC0415

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("owui.example", 8080),
        "path": "/api/chat/actions/x",
        "query_string": b"a=1&access_token=t",
        "headers": [
            (b"authorization", b"Bearer user-jwt"),
            (b"cookie", b"token=user-jwt; theme=dark; oauth_session_id=s"),
            (b"x-api-key", b"sk-1"),
            (b"proxy-authorization", b"Basic x"),
            (b"x-auth-request-access-token", b"t"),
            (b"cf-access-jwt-assertion", b"t"),
            (b"user-agent", b"browser"),
        ],
        "client": ("10.0.0.7", 51000),
    }
    described = describe_request(Request(scope))
    assert described["headers"] == {"user-agent": "browser"}
    assert described["cookies"] == {"theme": "dark"}
    assert described["query_params"] == {"a": "1"}
    assert described["client"] == {"host": "10.0.0.7", "port": 51000}
    assert described["url"] == "http://owui.example:8080/api/chat/actions/x?a=1"
