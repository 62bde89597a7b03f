"""Registry: loading in workers, validation, valves, persistence, ListActions ordering."""

from __future__ import annotations

import os

import grpc
import pytest

from airlock.client import AirlockClient, SubAction
from gateway.config import GatewayConfig
from gateway.server import Gateway
from tests.conftest import plugin_source, probed
from tests.helpers import register

pytestmark = pytest.mark.anyio


# The registry's listings and files are what these tests look at: a gateway per test.
@pytest.fixture
def gateway_config(private_config: GatewayConfig) -> GatewayConfig:
    return private_config


@pytest.fixture
async def client(private_client: AirlockClient) -> AirlockClient:
    return private_client


def action_source(title: str = "", priority: int | None = None, body: str = "return 1") -> str:
    front = f'"""\ntitle: {title}\n"""\n' if title else ""
    valves = (
        f"    class Valves(BaseModel):\n        priority: int = {priority}\n"
        "    def __init__(self):\n        self.valves = self.Valves()\n"
        if priority is not None
        else ""
    )
    head = f"{front}from pydantic import BaseModel\nclass Action:\n{valves}"
    return f"{head}    async def action(self, body):\n        {body}\n"


async def expect_error(code: grpc.StatusCode, coro: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro  # type: ignore[misc]
    assert info.value.code() is code, info.value.details()
    return info.value.details() or ""


async def test_put_reports_what_the_worker_found(client: AirlockClient) -> None:
    record = await client.put_function("Valves", plugin_source("valves"), model_ids=["m1", "m1", "m2"])
    assert record.id == "valves"  # ids are lower-cased like Open WebUI's
    assert record.kind == "action"
    assert record.name == "Valved"
    assert record.manifest == {"title": "Valved"}
    assert record.default_valves == {"priority": 5, "api_key": "", "retries": 2}
    assert record.valves is None
    assert record.priority == 5
    assert record.valves_schema is not None
    assert record.valves_schema["properties"]["retries"]["maximum"] == 10
    assert record.user_valves_schema is None
    assert record.model_ids == ("m1", "m2")
    assert record.profile == "default"
    assert len(record.sha256) == 64
    assert record.source == plugin_source("valves")
    assert record.created_at_ms == record.updated_at_ms > 0


async def test_frontmatter_and_sub_actions(client: AirlockClient) -> None:
    record = await client.put_function("multi", plugin_source("multi"))
    assert record.name == "Multi"
    assert record.description == "several buttons"
    assert record.icon_url == "https://example.com/multi.svg"
    assert record.actions == (
        SubAction("upper", "Upper case", "https://example.com/multi.svg"),
        SubAction("lower", "Multi (lower)", "https://example.com/lower.svg"),
    )


async def test_name_falls_back_to_the_id_and_frontmatter_needs_the_first_line(client: AirlockClient) -> None:
    source = '# comment first\n"""\ntitle: Ignored\n"""\nclass Action:\n    async def action(self, body): pass\n'
    record = await client.put_function("plain", source)
    assert record.name == "plain"
    assert record.manifest == {}


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("class Filter:\n    def inlet(self, body): return body\nclass Action:\n    pass\n", "filter"),
        ("class Pipe:\n    def pipe(self, body): return 'x'\n", "pipe"),
        ("class Event:\n    pass\n", "event"),
    ],
)
async def test_kind_follows_the_class_lookup_order(client: AirlockClient, source: str, kind: str) -> None:
    record = await client.put_function("k", source)
    assert record.kind == kind


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("class Action(:\n", "SyntaxError: "),
        ("import definitely_not_a_module_xyz\n", "ModuleNotFoundError: No module named 'definitely_not_a_module_xyz'"),
        ("x = 1\n", "No Function class found in the module"),
        ("class Action:\n    def __init__(self):\n        raise RuntimeError('no key')\n", "RuntimeError: no key"),
        ("class Action:\n    actions = [{'name': 'x'}]\n", "actions[0]['id'] must be a non-empty string"),
        ("class Action:\n    actions = [{'id': 'a.b'}]\n", "without '.'"),
        ("import os\nos._exit(0)\n", "WorkerCrashed: the worker died while loading"),
    ],
)
async def test_sources_that_do_not_load_are_invalid_argument(client: AirlockClient, source: str, message: str) -> None:
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.put_function("bad", source))
    assert message in details
    await expect_error(grpc.StatusCode.NOT_FOUND, client.get_function("bad"))


@pytest.mark.parametrize(
    ("function_id", "source", "profile", "message"),
    [
        ("", "class Action: pass", "", "id is required"),
        ("has-dash", "class Action: pass", "", "invalid function id"),
        ("1abc", "class Action: pass", "", "invalid function id"),
        ("ok", "   \n", "", "source is empty"),
        (
            "ok",
            "class Action: pass",
            "nope",
            "unknown profile 'nope'; available: default, fast, networked, relaxed, single, strict",
        ),
        ("ok", "x" * (1024 * 1024 + 1), "", "the limit is 1048576"),
    ],
)
async def test_bad_put_requests(
    client: AirlockClient, function_id: str, source: str, profile: str, message: str
) -> None:
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, client.put_function(function_id, source, profile=profile)
    )
    assert message in details


async def test_module_code_never_runs_in_the_gateway(client: AirlockClient) -> None:
    source = "import os\nraise RuntimeError(os.readlink('/proc/self/ns/pid') + ' ' + str(os.getpid()))\n"
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.put_function("probe", source))
    namespace, pid = details.rsplit(": ", 1)[1].split()
    assert namespace.startswith("pid:[")
    assert namespace != os.readlink("/proc/self/ns/pid")  # a pid namespace of its own...
    assert pid == "2"  # ...in which it is the process after the reaper


async def test_valves_are_validated_in_a_worker(client: AirlockClient) -> None:
    await register(client, "valves")
    record = await client.update_valves("valves", {"retries": "3", "api_key": "k"})
    assert record.valves == {"priority": 5, "api_key": "k", "retries": 3}
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.update_valves("valves", {"retries": 99}))
    assert "retries" in details
    assert "less than or equal to 10" in details
    assert (await client.get_function("valves")).valves == {"priority": 5, "api_key": "k", "retries": 3}
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, client.put_function("other", plugin_source("valves"), valves={"retries": -1})
    )
    assert "greater than or equal to 0" in details


async def test_update_valves_errors(client: AirlockClient) -> None:
    await expect_error(grpc.StatusCode.NOT_FOUND, client.update_valves("missing", {}))
    await register(client, "emitter")
    details = await expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.update_valves("emitter", {"a": 1}))
    assert "no Valves class" in details


async def test_replacing_the_source_keeps_valves_that_still_fit(client: AirlockClient) -> None:
    await client.put_function("v", plugin_source("valves"), valves={"api_key": "secret"})
    replaced = await client.put_function("v", plugin_source("valves").replace("Valved", "Valved 2"))
    assert replaced.name == "Valved 2"
    assert replaced.valves == {"priority": 5, "api_key": "secret", "retries": 2}
    incompatible = "from pydantic import BaseModel, ConfigDict\nclass Action:\n    class Valves(BaseModel):\n"
    incompatible += "        model_config = ConfigDict(extra='forbid')\n        other: int = 1\n"
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.put_function("v", incompatible))
    assert "stored valves do not fit the new source" in details
    assert (await client.get_function("v")).name == "Valved 2"


async def test_list_get_delete(client: AirlockClient) -> None:
    await register(client, "emitter")
    await register(client, "multi")
    await client.put_function("filt", "class Filter: pass\n")
    listed = await client.list_functions()
    assert [f.id for f in listed] == ["emitter", "filt", "multi"]
    assert all(f.source == "" for f in listed)
    assert [f.id for f in await client.list_functions("filter")] == ["filt"]
    assert await client.delete_function("multi") == "multi"
    await expect_error(grpc.StatusCode.NOT_FOUND, client.delete_function("multi"))
    await expect_error(grpc.StatusCode.NOT_FOUND, client.get_function("multi"))
    assert [f.id for f in await client.list_functions()] == ["emitter", "filt"]


async def test_records_persist_across_restarts(gateway_config: GatewayConfig) -> None:
    first = Gateway(gateway_config, host=probed())
    await first.start()
    async with AirlockClient(first.address) as c:
        put = await c.put_function("valves", plugin_source("valves"), is_global=True, valves={"priority": 1})
        await c.put_function("gone", plugin_source("emitter"))
        await c.delete_function("gone")
    await first.stop(0)
    second = Gateway(gateway_config, host=probed())
    await second.start()
    try:
        async with AirlockClient(second.address) as c:
            assert await c.get_function("valves") == put
            assert [f.id for f in await c.list_functions()] == ["valves"]
            assert [b.id for b in await c.list_actions("any")] == ["valves"]
    finally:
        await second.stop(0)


async def test_list_actions_follows_open_webui_ordering(client: AirlockClient) -> None:
    await client.put_function("zeta", action_source("Zeta", priority=0), is_global=True)
    await client.put_function("alpha", action_source("Alpha", priority=0), model_ids=["m"])
    await client.put_function("beta", action_source("Beta", priority=-1), is_global=True)
    await client.put_function("late", action_source("Late", priority=7), model_ids=["m"])
    await client.put_function("noprio", action_source("No priority"), model_ids=["m"])
    await client.put_function("multi", plugin_source("multi"), is_global=True)
    await client.put_function("other_model", action_source("Other"), model_ids=["x"])
    await client.put_function("off", action_source("Off"), is_global=True, is_active=False)
    await client.put_function("filt", "class Filter: pass\n", is_global=True)
    buttons = await client.list_actions("m")
    assert [(b.id, b.name, b.priority) for b in buttons] == [
        ("beta", "Beta", -1),
        ("alpha", "Alpha", 0),
        ("multi.upper", "Upper case", 0),
        ("multi.lower", "Multi (lower)", 0),
        ("noprio", "No priority", 0),
        ("zeta", "Zeta", 0),
        ("late", "Late", 7),
    ]
    assert buttons[2].description == "several buttons"
    assert buttons[3].icon_url == "https://example.com/lower.svg"
    # Updating valves re-sorts: priority comes from the stored valves.
    await client.update_valves("late", {"priority": -5})
    assert (await client.list_actions("m"))[0].id == "late"
    assert [b.id for b in await client.list_actions("x")] == [
        "beta",
        "multi.upper",
        "multi.lower",
        "other_model",
        "zeta",
    ]
    await expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.list_actions(""))


async def test_broken_priority_counts_as_zero(client: AirlockClient) -> None:
    await client.put_function("s", action_source("S").replace("class Action:", "class Action:\n    priority = 'x'"))
    source = (
        "from pydantic import BaseModel\nclass Action:\n    class Valves(BaseModel):\n"
        "        priority: str = 'high'\n    async def action(self, body): pass\n"
    )
    record = await client.put_function("strprio", source, is_global=True)
    assert record.priority == 0


async def test_registry_file_is_private(client: AirlockClient, gateway_config: GatewayConfig) -> None:
    await client.put_function("valves", plugin_source("valves"), valves={"api_key": "sk-secret"})
    assert gateway_config.data_dir.stat().st_mode & 0o777 == 0o700
    for path in gateway_config.data_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


async def test_invalid_valves_never_echo_the_value(client: AirlockClient) -> None:
    await register(client, "valves")
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, client.update_valves("valves", {"retries": "sk-live-secret-123"})
    )
    assert details == "invalid valves: retries: Input should be a valid integer, unable to parse string as an integer"
