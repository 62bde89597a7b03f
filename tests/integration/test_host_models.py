"""Models lookups and Open WebUI's constants, as a plugin in a real sandbox sees them."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from airlock.client import AirlockClient, HostRequest, Outcome
from airlock.client.host import model_records
from tests.helpers import drain, register

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

OWNER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "admin"}
BASE = {
    "id": "llama3", "user_id": "u-1", "name": "Llama 3", "params": {}, "meta": {"tags": [{"name": "local"}]},
    "is_active": True,
}  # fmt: skip
SUMMARIZER = {
    "id": "summarizer", "user_id": "u-1", "base_model_id": "llama3", "name": "Summarizer",
    "params": {"temperature": 0.2, "system": "Be brief."},
    "meta": {"description": "Short answers", "profile_image_url": "/static/favicon.png"},
    "is_active": True, "updated_at": 1700000000, "created_at": 1690000000,
}  # fmt: skip
MODELS = {"llama3": BASE, "summarizer": SUMMARIZER}


async def test_a_model_is_looked_up_by_the_host_and_returned_as_upstreams_model(client: AirlockClient) -> None:
    await register(client, "host_models")
    seen: list[HostRequest] = []

    def lookup(request: HostRequest) -> Any:
        seen.append(request)
        return MODELS.get(request.args["id"])

    host = {"models.get_model_by_id": lookup}
    found = await drain(client, "host_models", body={"mode": "model", "id": "summarizer"}, host=host)
    assert found.result.outcome is Outcome.OK, found.result.error
    value = found.result.value
    assert (value["type"], value["is_model_model"], value["name"]) == ("ModelModel", True, "Summarizer")
    assert value["description"] == "Short answers"
    assert value["params"] == {"temperature": 0.2, "system": "Be brief."}  # no empty model_controls
    assert value["dump"]["base_model_id"] == "llama3"
    assert value["dump"]["access_grants"] == []
    assert (value["dump"]["created_at"], value["dump"]["version_id"]) == (1690000000, None)
    [request] = found.host_requests
    assert (request.method, request.args, request.stream) == ("models.get_model_by_id", {"id": "summarizer"}, False)
    assert [r.args for r in seen] == [{"id": "summarizer"}]

    missing = await drain(client, "host_models", body={"mode": "model", "id": "nothing"}, host=host)
    assert missing.result.outcome is Outcome.OK, missing.result.error
    assert missing.result.value is None  # as upstream: None, not an error


async def test_list_lookups_are_answered_from_records(client: AirlockClient) -> None:
    await register(client, "host_models")
    host = model_records(MODELS, users={"u-1": OWNER})
    body = {"mode": "lists", "ids": ["summarizer", "llama3", "nothing"], "tag": "local"}
    drained = await drain(client, "host_models", body=body, host=host)
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value == {
        "all": ["llama3", "summarizer"],
        "by_ids": ["summarizer", "llama3"],
        "custom": [["summarizer", "ada@example.com"]],
        "base": ["llama3"],
    }
    assert [(r.method, r.args) for r in drained.host_requests] == [
        ("models.get_all_models", {}),
        ("models.get_models_by_ids", {"ids": ["summarizer", "llama3", "nothing"]}),
        ("models.get_models", {"writable_by_user_id": None, "ids": ["summarizer", "llama3", "nothing"]}),
        ("models.get_base_models", {"tag": "local"}),
    ]


async def test_a_write_is_refused_in_the_sandbox_and_never_reaches_the_host(client: AirlockClient) -> None:
    await register(client, "host_models")
    drained = await drain(client, "host_models", body={"mode": "write", "id": "summarizer"}, host=model_records(MODELS))
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value["raised"] == "AttributeError"
    assert drained.result.value["message"].startswith(
        "Models.delete_model_by_id is not available in Airlock's sandbox: Models here has only get_all_models,"
    )
    assert drained.host_requests == []


async def test_a_host_that_does_not_offer_models_makes_the_lookup_fail_at_once(client: AirlockClient) -> None:
    await register(client, "host_models")
    drained = await drain(client, "host_models", body={"mode": "model", "id": "summarizer"})
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "HostUnavailable"
    assert "does not answer 'models.get_model_by_id'" in drained.result.error
    assert drained.host_requests == []


async def test_constants_are_upstreams_defaults_and_the_cache_dir_is_the_sandboxs(client: AirlockClient) -> None:
    await register(client, "host_models")
    drained = await drain(client, "host_models", body={"mode": "constants"})
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value == {
        "version": "0.12.4", "name": "Open WebUI", "url": "", "cache": "kept for this invocation only",
    }  # fmt: skip


async def test_a_plugin_importing_a_secret_is_refused_at_registration_saying_why(client: AirlockClient) -> None:
    source = (
        "from open_webui.env import WEBUI_SECRET_KEY\n\n\n"
        "class Action:\n    async def action(self, body):\n        return WEBUI_SECRET_KEY\n"
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.put_function("wants_the_secret", source)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert "ImportError: open_webui.env.WEBUI_SECRET_KEY is not available in Airlock's sandbox" in details
    assert "one of the Open WebUI server's secrets" in details
