"""Bridges in a real Open WebUI 0.12.4: each plugin clicked as upstream runs it, then bridged.

The bridges are made by the ``airlock openwebui`` commands, run as an admin runs them,
against a real gateway (this module's) and the session's Open WebUI server. The strongest
check is the first one: a plugin is installed in Open WebUI itself and clicked, then moved
into Airlock with ``pull --replace`` and clicked again in the same chat, and the two clicks
must look the same to the browser (status, answer, events in order).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr

from airlock.client import AirlockClient
from airlock.openwebui.bridge import is_bridge
from gateway.server import Gateway
from tests.conftest import command_environment, config_for, running_gateway, write_profiles
from tests.openwebui.api import OpenWebUIApi
from tests.openwebui.chat import Click, Event, browser
from tests.openwebui.conftest import InstallFunction, OpenWebUIUser
from tests.openwebui.conftest import plugin_source as openwebui_plugin
from tests.openwebui.server import ADMIN_EMAIL, OpenWebUI

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

AIRLOCK = str(Path(sys.executable).parent / "airlock")
ASK_MODEL = Path(__file__).parent / "plugins" / "ask_model.py"


async def airlock_cli(gateway: Gateway, openwebui: OpenWebUI, *args: str, token: str | None = None) -> tuple[int, str]:
    """Run ``airlock --target <gateway> openwebui ...`` as an admin would; (status, output)."""
    environment = command_environment(OPENWEBUI_URL=openwebui.url, OPENWEBUI_API_KEY=openwebui.admin_token)
    if token is not None:
        environment["AIRLOCK_TOKEN"] = token
    done = await anyio.run_process(
        [AIRLOCK, "--target", gateway.address, "openwebui", *args], env=environment, check=False, stderr=-2
    )
    return done.returncode, done.stdout.decode()


def seen(click: Click) -> list[tuple[str, Any]]:
    """The events as the user sees them: Open WebUI's per-dialog interaction ids left out."""

    def plain(data: Any) -> Any:
        return {k: v for k, v in data.items() if k != "interaction_id"} if isinstance(data, dict) else data

    return [(event.type, plain(event.data)) for event in click.events]


def answer_dialogs(event: Event) -> Any:
    if event.type == "confirmation":
        return True
    if event.type == "input":
        return "Ada"
    return None


@pytest.fixture
async def tab(openwebui: OpenWebUI) -> AsyncIterator[Any]:
    async with browser(openwebui.url, openwebui.admin_token) as opened:
        yield opened


@dataclass(frozen=True)
class Stage:
    """Everything a bridge test works with: this module's gateway, the server, a tab."""

    gateway: Gateway
    client: AirlockClient
    openwebui: OpenWebUI
    model: str
    api: OpenWebUIApi
    tab: Any

    def parts(self) -> tuple[Gateway, AirlockClient, OpenWebUI, str, OpenWebUIApi, Any]:
        return self.gateway, self.client, self.openwebui, self.model, self.api, self.tab

    @contextlib.asynccontextmanager
    async def pushed(self, function_id: str, source: str, *push_options: str) -> AsyncIterator[None]:
        """``source`` registered in Airlock (global) with its bridge pushed; both deleted afterwards."""
        await self.client.put_function(function_id, source, is_global=True)
        try:
            status, output = await airlock_cli(self.gateway, self.openwebui, "push", *push_options, function_id)
            assert status == 0, output
            await self.api.models(refresh=True)
            yield
        finally:
            await self.api.delete_function(function_id)
            await self.client.delete_function(function_id)
            await self.api.models(refresh=True)


@pytest.fixture
async def stage(  # noqa: PLR0917 - fixtures
    gateway: Gateway,
    client: AirlockClient,
    openwebui: OpenWebUI,
    openwebui_model: str,
    admin_api: OpenWebUIApi,
    tab: Any,
) -> Stage:
    return Stage(gateway, client, openwebui, openwebui_model, admin_api, tab)


@pytest.mark.parametrize(
    ("plugin", "clicks"),
    [
        ("events_action", ["events_action"]),
        ("asking_action", ["asking_action"]),
        ("sub_actions", ["sub_actions.first", "sub_actions.second"]),
        ("raising_action", ["raising_action"]),
        ("valves_action", ["valves_action"]),
    ],
)
async def test_a_bridge_clicks_exactly_like_the_plugin(  # noqa: PLR0917 - fixtures
    plugin: str,
    clicks: list[str],
    gateway: Gateway,
    openwebui: OpenWebUI,
    openwebui_model: str,
    install_function: InstallFunction,
    admin_api: OpenWebUIApi,
    tab: Any,
) -> None:
    # An id of this test's own: users' valves outlive a deleted function in Open WebUI.
    function_id = f"bridged_{plugin}"
    clicks = [f"bridged_{action_id}" for action_id in clicks]
    await install_function(function_id, openwebui_plugin(plugin), is_global=True)
    if plugin == "valves_action":
        await admin_api.update_valves(function_id, {"greeting": "set in Open WebUI", "times": 3})
        await admin_api.update_user_valves(function_id, {"nickname": "the admin"})
    upstream_models = await admin_api.models()
    chat_id, messages = await admin_api.new_chat(openwebui_model)
    message_id = str(messages[-1]["id"])

    async def click_all() -> list[Click]:
        return [
            await tab.click(
                action_id,
                model_id=openwebui_model,
                chat_id=chat_id,
                messages=messages,
                message_id=message_id,
                answer=answer_dialogs,
            )
            for action_id in clicks
        ]

    upstream = await click_all()

    status, output = await airlock_cli(gateway, openwebui, "pull", "--replace", function_id)
    assert status == 0, output
    assert f"{function_id}  replaced  active=yes global=yes" in output
    function = await admin_api.get_function(function_id)
    assert function is not None
    assert is_bridge(function["content"])
    assert function["is_active"] is True
    assert function["is_global"] is True
    await admin_api.models(refresh=True)
    bridged_models = await admin_api.models()
    bridged = await click_all()

    # The buttons are the same: ids, names, descriptions, icons, in the same order.
    assert bridged_models[openwebui_model]["actions"] == upstream_models[openwebui_model]["actions"]
    for before, after in zip(upstream, bridged, strict=True):
        assert (after.status, after.body) == (before.status, before.body)
        assert seen(after) == seen(before)
    if plugin == "raising_action":
        assert bridged[0].status == 400
        assert bridged[0].body == {"detail": "Error: the plugin refuses"}
    if plugin == "valves_action":
        assert bridged[0].body["greeting"] == "set in Open WebUI"
        assert bridged[0].body["nickname"] == "the admin"
        # The valves forms show the plugin's own fields, and the values stayed in Open WebUI.
        assert await admin_api.get_valves(function_id) == {"greeting": "set in Open WebUI", "times": 3}


async def test_push_creates_bridges_switched_as_in_airlock(
    gateway: Gateway, client: AirlockClient, openwebui: OpenWebUI, admin_api: OpenWebUIApi, openwebui_model: str
) -> None:
    await client.put_function(
        "pushed_valves", openwebui_plugin("valves_action"), is_global=True, valves={"greeting": "set in Airlock"}
    )
    await client.put_function("pushed_off", openwebui_plugin("events_action"), is_active=False)
    try:
        status, output = await airlock_cli(gateway, openwebui, "push", "pushed_valves", "pushed_off")
        assert status == 0, output
        assert "pushed_valves  created  active=yes global=yes" in output
        assert "pushed_off     created  active=no global=no" in output
        valves = await admin_api.get_function("pushed_valves")
        off = await admin_api.get_function("pushed_off")
        assert valves is not None
        assert off is not None
        assert (valves["is_active"], valves["is_global"], valves["name"]) == (True, True, "Valves")
        assert (off["is_active"], off["is_global"]) == (False, False)
        assert valves["meta"]["description"] == "reports its admin valves and the clicking user's valves"
        # The forms Open WebUI builds show the plugin's fields, defaults and descriptions.
        record = await client.get_function("pushed_valves")
        spec = await admin_api.request("GET", "/api/v1/functions/id/pushed_valves/valves/spec")
        assert spec == record.valves_schema
        user_spec = await admin_api.request("GET", "/api/v1/functions/id/pushed_valves/valves/user/spec")
        assert user_spec == record.user_valves_schema
        # A new bridge starts with Airlock's valves in Open WebUI, where it reads them from.
        assert await admin_api.get_valves("pushed_valves") == {"greeting": "set in Airlock", "times": 1}

        # In step: switched in Airlock, pushed again; an unchanged bridge is not rewritten.
        await client.put_function("pushed_off", openwebui_plugin("events_action"), is_active=True, is_global=True)
        status, output = await airlock_cli(gateway, openwebui, "push", "pushed_valves", "pushed_off")
        assert status == 0, output
        assert "pushed_valves  unchanged  active=yes global=yes" in output
        assert "pushed_off     unchanged  active=yes global=yes" in output
        off = await admin_api.get_function("pushed_off")
        assert off is not None
        assert (off["is_active"], off["is_global"]) == (True, True)
    finally:
        for function_id in ("pushed_valves", "pushed_off"):
            await admin_api.delete_function(function_id)
            await client.delete_function(function_id)
        await admin_api.models(refresh=True)


async def test_push_leaves_a_plugin_that_is_not_a_bridge_alone(
    gateway: Gateway, client: AirlockClient, openwebui: OpenWebUI, install_function: InstallFunction
) -> None:
    await install_function("kept_plugin", openwebui_plugin("events_action"))
    await client.put_function("kept_plugin", openwebui_plugin("events_action"))
    try:
        status, output = await airlock_cli(gateway, openwebui, "push", "kept_plugin")
        assert status == 2
        assert "kept_plugin  failed  Open WebUI holds a plugin of this id that is not a bridge" in output
        assert "1 of 1 function(s) failed: kept_plugin" in output
    finally:
        await client.delete_function("kept_plugin")


async def test_a_completion_is_served_by_open_webui_itself(stage: Stage) -> None:
    async with stage.pushed("ask_model", ASK_MODEL.read_text()):
        click = await stage.tab.click("ask_model", model_id=stage.model)
    assert click.status == 200, click.body
    # The sandboxed plugin asked Open WebUI's generate_chat_completion (through its
    # stand-in and the bridge): the session's model, a pipe function, answered.
    assert click.body["user"] == ADMIN_EMAIL
    assert click.body["answer"] == "echo: what is the answer?"
    assert click.body["streamed"] == ["echo: what is the answer?"]
    assert click.body["own_chat_title"] is not None
    # The user's session token never reached the sandbox.
    assert "authorization" not in click.body["request_headers"]
    assert "cookie" not in click.body["request_headers"]


async def test_a_memory_limit_is_a_notification_naming_it(stage: Stage) -> None:
    async with stage.pushed("memory_hog", openwebui_plugin("memory_hog")):
        click = await stage.tab.click("memory_hog", model_id=stage.model)
    # Not the plugin's error: the click returns nothing, and the user is told which limit.
    assert (click.status, click.body) == (200, None)
    assert seen(click)[0] == ("status", {"description": "allocating", "done": False})
    assert seen(click)[1][0] == "notification"
    notification = click.events[1].data
    assert notification["type"] == "error"
    assert notification["content"].startswith("Memory Hog ran out of memory in its sandbox (MEMORY_LIMIT)")
    assert len(click.events) == 2


def cancelled_count(gateway: Gateway, function_id: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "airlock_invocations_total", {"function": function_id, "profile": "default", "outcome": "cancelled"}
    )
    return value or 0.0


async def test_a_click_whose_request_goes_away_cancels_the_invocation(stage: Stage) -> None:
    # Open WebUI itself never cancels an action whose HTTP request went away: the bridge does.
    async with stage.pushed("slow_action", openwebui_plugin("slow_action")):
        models = await stage.api.models(refresh=False)
        form = {
            "model": stage.model,
            "messages": [],
            "model_item": models[stage.model],
            "chat_id": "temporary:gone",
            "session_id": "gone",
            "id": "m-gone",
        }
        before = cancelled_count(stage.gateway, "slow_action")
        began = anyio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await stage.api.http.post("/api/chat/actions/slow_action", json=form, timeout=2.0)
        # The plugin would sleep 8 s; the invocation ends within a second or so of the hang-up.
        with anyio.fail_after(5):
            while cancelled_count(stage.gateway, "slow_action") == before:  # noqa: ASYNC110 - polling a counter
                await anyio.sleep(0.05)
        assert anyio.current_time() - began < 6


async def test_airlock_unreachable_is_a_clear_message_at_once_and_open_webui_stays_up(stage: Stage) -> None:
    with contextlib.closing(__import__("socket").socket()) as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{closed.getsockname()[1]}"
        async with stage.pushed("unreachable", openwebui_plugin("events_action"), "--airlock-address", nowhere):
            began = anyio.current_time()
            click = await stage.tab.click("unreachable", model_id=stage.model)
            assert anyio.current_time() - began < 10
    assert click.status == 400
    assert click.body == {"detail": f"Error: Events: cannot reach Airlock at {nowhere} (connection failed)"}
    assert click.events == []
    assert (await stage.api.http.get("/health")).status_code == 200
    assert stage.model in await stage.api.models(refresh=True)


ADMIN_TOKEN = "admin-token-for-bridge-tests-0123"
INVOKER_TOKEN = "invoker-token-for-bridge-tests-01"


@pytest.fixture
async def token_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway of its own that wants tokens, so that a bridge's can be wrong (and it can drain)."""
    config = config_for(tmp_path, write_profiles(tmp_path / "profiles")).model_copy(
        update={"admin_token": SecretStr(ADMIN_TOKEN), "invoker_token": SecretStr(INVOKER_TOKEN)}
    )
    async with running_gateway(config) as gw:
        yield gw


async def test_a_wrong_token_and_a_draining_airlock_are_clear_messages(
    token_gateway: Gateway, openwebui: OpenWebUI, openwebui_model: str, admin_api: OpenWebUIApi, tab: Any
) -> None:
    async with AirlockClient(token_gateway.address, token=ADMIN_TOKEN) as admin:
        await admin.put_function("guarded", openwebui_plugin("events_action"), is_global=True)
        await admin.put_function("slow_action", openwebui_plugin("slow_action"))
        try:
            status, output = await airlock_cli(
                token_gateway,
                openwebui,
                "push",
                "--bridge-token",
                "not-the-token-0123456789",
                "guarded",
                token=ADMIN_TOKEN,
            )
            assert status == 0, output
            await admin_api.models(refresh=True)
            click = await tab.click("guarded", model_id=openwebui_model)
            assert (click.status, click.body) == (
                400,
                {"detail": "Error: Events: Airlock refused this bridge's credentials: check its token (AIRLOCK_TOKEN)"},
            )

            status, output = await airlock_cli(
                token_gateway, openwebui, "push", "--bridge-token", INVOKER_TOKEN, "guarded", token=ADMIN_TOKEN
            )
            assert "guarded  updated  active=yes global=yes" in output
            click = await tab.click("guarded", model_id=openwebui_model)
            assert click.status == 200, click.body

            # Draining: one invocation holds the gateway open while it stops; a click is refused.
            async with admin.invoke("slow_action") as held, anyio.create_task_group() as tasks:
                async for _ in held:
                    break  # Started: the invocation is admitted
                tasks.start_soon(token_gateway.stop, 30.0)
                with anyio.fail_after(5):
                    while await admin.health() == "SERVING":  # noqa: ASYNC110 - polling the health service
                        await anyio.sleep(0.01)
                click = await tab.click("guarded", model_id=openwebui_model)
                await held.cancel("the test is done")
            assert click.status == 400
            assert click.body["detail"].startswith(
                f"Error: Events: Airlock at {token_gateway.address} is unavailable (restarting or draining)"
            )
        finally:
            await admin_api.delete_function("guarded")
            await admin_api.models(refresh=True)
    assert (await admin_api.http.get("/health")).status_code == 200


async def test_pull_replace_moves_an_instances_actions_and_loses_nothing(
    stage: Stage, install_function: InstallFunction
) -> None:
    gateway, client, openwebui, openwebui_model, admin_api, tab = stage.parts()
    # Real-world-style actions (tests/compat/plugins) as an admin installed them, one with
    # valves set, and one that Airlock refuses: it reads Open WebUI's server configuration,
    # which no sandbox has.
    community = Path(__file__).parent.parent / "compat" / "plugins"
    sources = {
        "world_clock": (community / "world_clock.py").read_text(),
        "html_card": (community / "html_card.py").read_text(),
        "server_config": openwebui_plugin("server_config"),
    }
    await install_function("world_clock", sources["world_clock"], is_global=True)
    await install_function("html_card", sources["html_card"], active=False)
    await install_function("server_config", sources["server_config"])
    await admin_api.update_valves("world_clock", {"timezone": "Asia/Tokyo"})
    # Airlock already holds another function under an id Open WebUI also uses.
    await install_function("held_elsewhere", openwebui_plugin("events_action"))
    await client.put_function("held_elsewhere", openwebui_plugin("sub_actions"), profile="strict")
    chat_id, messages = await admin_api.new_chat(openwebui_model)
    # The clock reads the message's time: fixed, so that both clicks say the same.
    messages = [{**message, "timestamp": 1767225600} for message in messages]

    async def click() -> Click:
        clicked: Click = await tab.click(
            "world_clock", model_id=openwebui_model, chat_id=chat_id, messages=messages, message_id=messages[-1]["id"]
        )
        return clicked

    before = await click()
    assert before.status == 200, before.body
    assert before.body["zone"] == "Asia/Tokyo"
    try:
        status, output = await airlock_cli(gateway, openwebui, "pull", "--replace")
        assert status == 2, output
        lines = {line.split()[0]: line for line in output.splitlines() if line and not line.startswith("airlock:")}
        assert "replaced  active=yes global=yes" in lines["world_clock"]
        assert "replaced  active=no global=no" in lines["html_card"]
        assert lines["server_config"].split(None, 1)[1].startswith("failed  Airlock: INVALID_ARGUMENT")
        assert "open_webui.socket" in lines["server_config"]
        assert lines["server_config"].endswith("(left as it was in Open WebUI)")
        assert (
            lines["held_elsewhere"]
            .split(None, 1)[1]
            .startswith("failed  Airlock already holds a different function of this id (--overwrite replaces it)")
        )
        held = await client.get_function("held_elsewhere")
        assert (held.source, held.profile) == (openwebui_plugin("sub_actions"), "strict")
        stored_held = await admin_api.get_function("held_elsewhere")
        assert stored_held is not None
        assert stored_held["content"] == openwebui_plugin("events_action")
        # Airlock holds the plugins with their valves; Open WebUI holds their bridges.
        for function_id in ("world_clock", "html_card"):
            record = await client.get_function(function_id)
            assert record.source == sources[function_id]
            stored = await admin_api.get_function(function_id)
            assert stored is not None
            assert is_bridge(stored["content"])
        assert (await client.get_function("world_clock")).valves == {"timezone": "Asia/Tokyo"}
        unloadable = await admin_api.get_function("server_config")
        assert unloadable is not None
        assert unloadable["content"] == sources["server_config"]
        assert await admin_api.get_valves("world_clock") == {"timezone": "Asia/Tokyo"}
        await admin_api.models(refresh=True)
        after = await click()
        assert (after.status, after.body, seen(after)) == (before.status, before.body, seen(before))

        # Run again: what moved is skipped, what failed fails again, nothing else happens.
        status, output = await airlock_cli(gateway, openwebui, "pull", "--replace")
        assert status == 2, output
        again = {line.split()[0]: line for line in output.splitlines() if line and not line.startswith("airlock:")}
        assert again["world_clock"].split(None, 1)[1] == "skipped  already a bridge to Airlock"
        assert "failed" in again["server_config"]
    finally:
        for function_id in ("world_clock", "html_card", "server_config", "held_elsewhere"):
            with contextlib.suppress(Exception):
                await client.delete_function(function_id)


async def test_export_writes_sources_open_webui_accepts(stage: Stage) -> None:
    gateway, client, openwebui, openwebui_model, admin_api, tab = stage.parts()
    await client.put_function("exported", openwebui_plugin("sub_actions"), is_global=True)
    out = Path(tempfile.mkdtemp())
    try:
        status, output = await airlock_cli(gateway, openwebui, "export", "--out", str(out), "exported")
        assert status == 0, output
        source = (out / "exported.py").read_text()
        # Pasted into Open WebUI's editor by hand (the create call the editor makes).
        await admin_api.create_function("exported", source, name="Sub Actions")
        await admin_api.set_active("exported", True)
        await admin_api.set_global("exported", True)
        await admin_api.models(refresh=True)
        click = await tab.click("exported.second", model_id=openwebui_model)
        assert (click.status, click.body) == (200, {"clicked": "second"})
    finally:
        shutil.rmtree(out)
        await admin_api.delete_function("exported")
        await client.delete_function("exported")
        await admin_api.models(refresh=True)


async def test_a_user_clicks_with_their_own_valves_and_sees_only_their_own_records(
    stage: Stage, openwebui_user: OpenWebUIUser
) -> None:
    openwebui, admin_api = stage.openwebui, stage.api
    async with stage.pushed("lookups", openwebui_plugin("lookups")):
        me = await admin_api.request("GET", "/api/v1/auths/")
        await admin_api.update_valves("lookups", {"other_user_id": me["id"]})
        await admin_api.update_user_valves("lookups", {"nickname": "the admin"})
        async with OpenWebUIApi(openwebui.url, openwebui_user.token) as user_api:
            await user_api.update_user_valves("lookups", {"nickname": "plain"})
        async with browser(openwebui.url, openwebui_user.token) as user_tab:
            as_user = await user_tab.click("lookups", model_id=stage.model)
        async with browser(openwebui.url, openwebui.admin_token) as admin_tab:
            as_admin = await admin_tab.click("lookups", model_id=stage.model)
    assert as_user.status == 200, as_user.body
    # Each user's own valves; a plain user's plugin may not read another user's record
    # (upstream would hand it over: the sandboxed plugin is not trusted with it).
    assert as_user.body == {
        "own": openwebui_user.email,
        "role": "user",
        "other": "HostError: PermissionError: this record is not visible to the user who clicked",
        "nickname": "plain",
    }
    assert as_admin.body == {"own": ADMIN_EMAIL, "role": "admin", "other": ADMIN_EMAIL, "nickname": "the admin"}
