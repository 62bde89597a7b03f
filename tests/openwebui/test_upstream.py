"""What a stock Open WebUI 0.12.4 does when a plain Action function's button is clicked.

These tests prove the harness (server, REST helper, browser tab) and record upstream's
behaviour, which a bridge standing in for a plugin must reproduce exactly: the events in
order, ``__event_call__`` dialogs and their answers, valves, sub-actions, and what the
click answers when the plugin raises. The plugins are in tests/openwebui/plugins/.
"""

from __future__ import annotations

import time

import pytest

from tests.openwebui.api import OpenWebUIApi
from tests.openwebui.chat import Event, browser
from tests.openwebui.conftest import InstallFunction, OpenWebUIUser, plugin_source
from tests.openwebui.server import ADMIN_EMAIL, OpenWebUI

# The first run on a machine installs Open WebUI inside the session fixture's setup, which
# pytest-timeout counts: room for that install and the server's start.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]


async def test_server_is_up_with_the_admin_signed_in(openwebui: OpenWebUI, admin_api: OpenWebUIApi) -> None:
    print(f"open-webui ready in {openwebui.startup_seconds:.1f} s")
    me = await admin_api.request("GET", "/api/v1/auths/")
    assert me["email"] == ADMIN_EMAIL
    assert me["role"] == "admin"


async def test_a_pipe_function_is_the_model(admin_api: OpenWebUIApi, openwebui_model: str) -> None:
    models = await admin_api.models()
    # Ollama and OpenAI are off: the test pipe is the only model.
    assert list(models) == [openwebui_model]
    assert models[openwebui_model]["owned_by"] == "openai"
    assert models[openwebui_model]["pipe"] == {"type": "pipe"}


async def test_a_click_relays_events_in_order_and_returns_the_value(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction, admin_api: OpenWebUIApi
) -> None:
    await install_function("events_action", plugin_source("events_action"))
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        started = time.monotonic()
        click = await tab.click("events_action", model_id=openwebui_model)
        print(f"click round trip {time.monotonic() - started:.2f} s")

    assert click.status == 200
    assert click.body == {
        "clicked": "events_action",
        "user": ADMIN_EMAIL,
        "model": openwebui_model,
        "message_id": click.message_id,
        "chat_id": click.chat_id,
        # What the browser posts, minus model_item (popped before the action sees the body).
        "body_keys": ["chat_id", "id", "messages", "model", "session_id"],
    }
    assert [(event.type, event.data) for event in click.events] == [
        ("status", {"description": "working", "done": False}),
        ("message", {"content": "part one; "}),
        ("message", {"content": "part two"}),
        ("status", {"description": "finished", "done": True}),
    ]
    assert all(event.chat_id == click.chat_id for event in click.events)
    # A saved chat also keeps what the events said, under the clicked message.
    chat = await admin_api.get_chat(click.chat_id)
    message = chat["chat"]["history"]["messages"][click.message_id]
    assert message["content"] == "Hipart one; part two"
    assert message["statusHistory"] == [
        {"description": "working", "done": False},
        {"description": "finished", "done": True},
    ]


async def test_a_temporary_chat_is_clicked_in_without_saving(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction
) -> None:
    await install_function("events_action", plugin_source("events_action"))
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        session_id = tab.session_id
        click = await tab.click("events_action", model_id=openwebui_model, chat_id=tab.temporary_chat_id)
    assert click.status == 200
    assert click.body["chat_id"] == f"temporary:{session_id}"
    assert click.types() == ["status", "message", "message", "status"]


async def test_event_calls_are_answered_by_the_tab(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction
) -> None:
    await install_function("asking_action", plugin_source("asking_action"))
    asked: list[Event] = []

    async def answer(event: Event) -> object:
        if event.type == "confirmation":
            asked.append(event)
            return True
        if event.type == "input":
            asked.append(event)
            return "Ada"
        return None

    async with browser(openwebui.url, openwebui.admin_token) as tab:
        click = await tab.click("asking_action", model_id=openwebui_model, answer=answer)

    assert click.status == 200
    assert click.body == {"confirmed": True, "text": "Ada"}
    # Open WebUI adds an interaction id to each dialog and closes it with an event of its own.
    first, second = (event.data["interaction_id"] for event in asked)
    assert [(event.type, event.data) for event in click.events] == [
        ("confirmation", {"title": "Proceed?", "message": "Really do it?", "interaction_id": first}),
        ("request:interaction:done", {"interaction_id": first}),
        (
            "input",
            {"title": "Name", "message": "Who are you?", "placeholder": "a name", "interaction_id": second},
        ),
        ("request:interaction:done", {"interaction_id": second}),
        ("message", {"content": "confirmed=True text='Ada'"}),
    ]


async def test_an_event_call_to_a_wrong_session_answers_disconnected(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction
) -> None:
    await install_function("asking_action", plugin_source("asking_action"))
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        # sio.sid, the connection's id, is not the session's id: get_sid("/") is.
        assert tab.engineio_sid != tab.session_id
        click = await tab.click("asking_action", model_id=openwebui_model, session_id=tab.engineio_sid)
    disconnected = {"error": "Client session disconnected."}
    assert click.status == 200
    assert click.body == {"confirmed": disconnected, "text": disconnected}
    assert [(event.type, event.data) for event in click.events] == [
        ("message", {"content": f"confirmed={disconnected!r} text={disconnected!r}"}),
    ]


async def test_admin_and_user_valves_reach_the_action(
    openwebui: OpenWebUI,
    openwebui_model: str,
    openwebui_user: OpenWebUIUser,
    install_function: InstallFunction,
    admin_api: OpenWebUIApi,
) -> None:
    # Global: a non-admin may click only actions shown on the model.
    await install_function("valves_action", plugin_source("valves_action"), is_global=True)
    assert await admin_api.get_valves("valves_action") == {}
    async with browser(openwebui.url, openwebui_user.token) as tab:
        defaults = await tab.click("valves_action", model_id=openwebui_model)
    assert defaults.status == 200
    assert defaults.body == {
        "greeting": "hello",
        "times": 1,
        "nickname": "nobody",
        "user_valves_type": "UserValves",
        "role": "user",
    }

    assert await admin_api.update_valves("valves_action", {"greeting": "bonjour", "times": 3}) == {
        "greeting": "bonjour",
        "times": 3,
    }
    async with OpenWebUIApi(openwebui.url, openwebui_user.token) as user_api:
        assert await user_api.update_user_valves("valves_action", {"nickname": "Bob"}) == {"nickname": "Bob"}
        assert await user_api.get_user_valves("valves_action") == {"nickname": "Bob"}
    async with browser(openwebui.url, openwebui_user.token) as tab:
        click = await tab.click("valves_action", model_id=openwebui_model)
    assert click.status == 200
    assert click.body == {
        "greeting": "bonjour",
        "times": 3,
        "nickname": "Bob",
        "user_valves_type": "UserValves",
        "role": "user",
    }
    assert click.types() == ["message"]
    # The admin's own user valves are the defaults: user valves are per user.
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        admin_click = await tab.click("valves_action", model_id=openwebui_model)
    assert admin_click.body["nickname"] == "nobody"
    assert admin_click.body["role"] == "admin"


async def test_sub_actions_are_buttons_clicked_as_function_dot_sub(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction, admin_api: OpenWebUIApi
) -> None:
    await install_function("sub_actions", plugin_source("sub_actions"), is_global=True)
    models = await admin_api.models()
    assert [item for item in models[openwebui_model]["actions"] if item["id"].startswith("sub_actions")] == [
        {
            "id": "sub_actions.first",
            "name": "First button",
            "description": "",
            "icon": "data:image/svg+xml;base64,PHN2Zy8+",
        },
        {"id": "sub_actions.second", "name": "Second button", "description": "", "icon": None},
    ]
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        first = await tab.click("sub_actions.first", model_id=openwebui_model)
        second = await tab.click("sub_actions.second", model_id=openwebui_model)
        # Not checked against the list: any sub id reaches the action as __id__.
        undeclared = await tab.click("sub_actions.third", model_id=openwebui_model)
    assert (first.status, first.body) == (200, {"clicked": "first"})
    assert [(event.type, event.data) for event in first.events] == [
        ("status", {"description": "clicked first", "done": True})
    ]
    assert (second.status, second.body) == (200, {"clicked": "second"})
    assert (undeclared.status, undeclared.body) == (200, {"clicked": "third"})


async def test_a_raising_action_answers_400_with_its_message(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction
) -> None:
    await install_function("raising_action", plugin_source("raising_action"))
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        click = await tab.click("raising_action", model_id=openwebui_model)
    # chat_action wraps the exception as Exception(f"Error: {e}") and the route turns any
    # exception into HTTP 400 with str(e) as the detail: the UI shows that detail in a toast.
    assert click.status == 400
    assert click.body == {"detail": "Error: the plugin refuses"}
    # Events emitted before the raise were delivered.
    assert [(event.type, event.data) for event in click.events] == [
        ("status", {"description": "about to fail", "done": False})
    ]


async def test_a_synchronous_action_returning_none_answers_null(
    openwebui: OpenWebUI, openwebui_model: str, install_function: InstallFunction
) -> None:
    await install_function("silent_action", plugin_source("silent_action"))
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        click = await tab.click("silent_action", model_id=openwebui_model)
    assert (click.status, click.body, click.events) == (200, None, [])


async def test_refused_clicks(
    openwebui: OpenWebUI,
    openwebui_model: str,
    openwebui_user: OpenWebUIUser,
    install_function: InstallFunction,
) -> None:
    await install_function("events_action", plugin_source("events_action"))
    await install_function("silent_action", plugin_source("silent_action"), active=False)
    async with browser(openwebui.url, openwebui.admin_token) as tab:
        unknown = await tab.click("no_such_action", model_id=openwebui_model)
        inactive = await tab.click("silent_action", model_id=openwebui_model)
        no_model = await tab.click("events_action", model_id="no_such_model", chat_id=tab.temporary_chat_id)
        # An admin may act in any chat id (ENABLE_ADMIN_CHAT_ACCESS defaults to true).
        foreign_chat = await tab.click("events_action", model_id=openwebui_model, chat_id="someone-elses")
    assert (unknown.status, unknown.body) == (400, {"detail": "Action not found: no_such_action"})
    assert (inactive.status, inactive.body) == (400, {"detail": "Action not available: silent_action"})
    assert (no_model.status, no_model.body) == (400, {"detail": "Model not found"})
    assert foreign_chat.status == 200

    async with browser(openwebui.url, openwebui_user.token) as tab:
        # Neither global nor assigned to the model: not shown to a user, so refused.
        not_shown = await tab.click("events_action", model_id=openwebui_model)
        not_owner = await tab.click("events_action", model_id=openwebui_model, chat_id="someone-elses")
    assert (not_shown.status, not_shown.body) == (400, {"detail": "Action not available: events_action"})
    assert (not_owner.status, not_owner.body) == (404, {"detail": "Something went wrong :/"})
    assert not_shown.events == not_owner.events == []
