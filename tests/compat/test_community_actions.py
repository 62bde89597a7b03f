"""Actions written like real community Open WebUI actions, end to end through a real gateway.

Each plugin in tests/compat/plugins/ is registered unchanged and invoked with a host that
answers host requests the way a real host would: Users/Chats/Files from its records and
generate_chat_completion from an OpenAI-compatible endpoint (tests/compat/fake_openai.py,
a real HTTP server), through the client library's handlers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from airlock.client import AirlockClient, Call, Outcome
from airlock.client.host import HostHandler, records
from airlock.client.openai import OpenAIChatCompletions
from tests.compat.fake_openai import FakeOpenAI, fake_openai
from tests.helpers import Drained, drain

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

PLUGINS = Path(__file__).parent / "plugins"
USER: dict[str, Any] = {"id": "u-7", "email": "lin@example.com", "name": "Lin", "role": "user"}
MESSAGES = [
    {"role": "user", "content": "plan a trip to lisbon"},
    {"role": "assistant", "content": "Day one: Alfama."},
]
BODY = {"model": "llama3", "messages": MESSAGES, "chat_id": "c-1", "session_id": "s", "id": "m-2"}
CHAT: dict[str, Any] = {"id": "c-1", "user_id": "u-7", "title": "Lisbon", "chat": {"messages": MESSAGES}}
FILE: dict[str, Any] = {
    "id": "f-1",
    "user_id": "u-7",
    "filename": "notes.txt",
    "data": {"content": "three short words"},
}


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with fake_openai() as server:
        yield server


def host(openai: FakeOpenAI | None = None) -> dict[str, HostHandler]:
    handlers: dict[str, HostHandler] = {
        **records("users.get_user_by_id", {USER["id"]: USER}),
        **records("chats.get_chat_by_id", {CHAT["id"]: CHAT}),
        **records("files.get_file_by_id", {FILE["id"]: FILE}),
    }
    if openai is not None:
        handlers["generate_chat_completion"] = OpenAIChatCompletions(openai.base_url)
    return handlers


async def put(client: AirlockClient, name: str) -> None:
    await client.put_function(name, (PLUGINS / f"{name}.py").read_text())


async def run(client: AirlockClient, name: str, **kw: Any) -> Drained:
    kw.setdefault("body", BODY)
    kw.setdefault("user", USER)
    drained = await drain(client, name, **kw)
    assert drained.result.outcome is Outcome.OK, (drained.result.error, drained.result.traceback)
    return drained


async def test_summarize_chat_uses_users_and_a_completion(client: AirlockClient, openai: FakeOpenAI) -> None:
    await put(client, "summarize_chat")
    drained = await run(client, "summarize_chat", host=host(openai))
    summary = "USER: PLAN A TRIP TO LISBON\nASSISTANT: DAY ONE: ALFAMA."
    assert drained.result.value == {"summary": summary, "asked_by": "Lin", "last": "plan a trip to lisbon"}
    assert [m.method for m in drained.host_requests] == ["users.get_user_by_id", "generate_chat_completion"]
    assert ("chat:message", {"content": summary}) in drained.event_pairs()
    [sent] = openai.requests
    assert sent["model"] == "llama3"
    assert sent["messages"][0] == {"role": "system", "content": "Summarize in at most 50 words."}


async def test_streaming_rewrite_emits_a_delta_per_chunk(client: AirlockClient, openai: FakeOpenAI) -> None:
    await put(client, "rewrite_streaming")
    drained = await run(client, "rewrite_streaming", host=host(openai))
    deltas = [d["content"] for t, d in drained.event_pairs() if t == "chat:message:delta"]
    assert deltas == ["DAY ", "ONE: ", "ALFAMA. "]
    assert drained.host_requests[0].stream is True
    assert openai.requests[0]["stream"] is True


async def test_export_chat_confirms_then_downloads_through_execute(client: AirlockClient) -> None:
    await put(client, "export_chat")
    seen: list[Call] = []

    def answer(call: Call) -> Any:
        seen.append(call)
        return True if call.type == "confirmation" else "Lisbon.md"

    drained = await run(client, "export_chat", host=host(), on_call=answer)
    assert [c.type for c in seen] == ["confirmation", "execute"]
    assert 'a.download = "Lisbon.md"' in seen[1].data["code"]
    assert drained.result.value["exported"] is True
    assert ("status", {"description": "Saved Lisbon.md", "done": True}) in drained.event_pairs()


async def test_export_chat_refuses_another_users_chat(client: AirlockClient) -> None:
    await put(client, "export_chat")
    drained = await drain(client, "export_chat", body=BODY, user={**USER, "id": "u-8"}, host=host())
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert (drained.result.error_type, drained.result.error) == ("PermissionError", "not your chat")


async def test_file_digest_reads_files_the_host_describes(client: AirlockClient) -> None:
    await put(client, "file_digest")
    body = {**BODY, "files": [{"id": "f-1"}, {"id": "f-9"}]}
    drained = await run(client, "file_digest", body=body, host=host())
    assert drained.result.value == [
        {"id": "f-1", "name": "notes.txt", "words": 3},
        {"id": "f-9", "missing": True},
    ]
    assert drained.event_pairs()[0][0] == "citation"


async def test_html_card_becomes_an_embed(client: AirlockClient) -> None:
    await put(client, "html_card")
    drained = await run(client, "html_card")
    [(kind, data)] = drained.event_pairs()
    assert kind == "embeds"
    assert data == {"embeds": ["<html><body><div class='card'>Day one: Alfama.</div></body></html>"]}
    assert drained.result.value["code"] == "ui_component"


async def test_summarize_without_a_completion_host_fails_clearly(client: AirlockClient) -> None:
    await put(client, "summarize_chat")
    drained = await drain(client, "summarize_chat", body=BODY, user=USER, host=host(None))
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "HostUnavailable"
    assert "does not answer 'generate_chat_completion'" in drained.result.error


async def test_an_endpoint_error_reaches_the_plugin(client: AirlockClient, openai: FakeOpenAI) -> None:
    await put(client, "summarize_chat")
    await client.update_valves("summarize_chat", {"model": "missing"})
    drained = await drain(client, "summarize_chat", body=BODY, user=USER, host=host(openai))
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "HostError"
    assert "HTTP 404" in drained.result.error
    assert "model not found" in drained.result.error


async def test_an_import_upstream_no_longer_has_is_refused_with_the_reason(client: AirlockClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await put(client, "legacy_apps_import")
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = raised.value.details() or ""
    assert "No module named 'open_webui.apps'" in details
    assert "only these Open WebUI internals exist" in details
