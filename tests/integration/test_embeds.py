"""HTML responses an action returns become Open WebUI ``embeds`` events (process_tool_result)."""

from __future__ import annotations

from typing import Any

import pytest

from airlock.client import AirlockClient, Outcome
from tests.helpers import drain, register

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SUCCESS = {
    "status": "success",
    "code": "ui_component",
    "message": "embeds: Embedded UI result is active and visible to the user.",
}


async def run(client: AirlockClient, mode: str) -> tuple[list[tuple[str, Any]], Any]:
    drained = await drain(client, "embeds", body={"mode": mode})
    assert drained.result.outcome is Outcome.OK, drained.result.error
    return drained.event_pairs()[1:], drained.result.value


@pytest.mark.parametrize(
    ("mode", "embed", "value"),
    [
        ("inline", "<b>chart</b>", SUCCESS),
        (
            "inline_404",
            "<i>gone</i>",
            {"status": "error", "code": "ui_component", "message": "embeds: Client error 404 from embedded UI result."},
        ),
        ("with_context", "<b>x</b>", {"rows": 3}),
        ("tuple_html", "<svg/>", SUCCESS),
        ("tuple_location", "https://example.com/embed", SUCCESS),
    ],
)
async def test_inline_responses_become_an_embeds_event(
    client: AirlockClient, mode: str, embed: str, value: Any
) -> None:
    await register(client, "embeds")
    events, returned = await run(client, mode)
    assert events == [("embeds", {"embeds": [embed]})]
    assert returned == value


@pytest.mark.parametrize(
    ("mode", "value"),
    [
        # Upstream sends a response that is not inline as the HTTP reply itself: its body.
        ("attachment", "<p>page</p>"),
        ("json_response", {"n": 1}),
        ("tuple_plain", ["a", "b"]),
    ],
)
async def test_other_values_are_returned_without_embeds(client: AirlockClient, mode: str, value: Any) -> None:
    await register(client, "embeds")
    events, returned = await run(client, mode)
    assert events == []
    assert returned == value


async def test_a_tuple_of_another_length_fails_as_upstream(client: AirlockClient) -> None:
    await register(client, "embeds")
    drained = await drain(client, "embeds", body={"mode": "triple"})
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "ValueError"
    assert drained.result.error == "too many values to unpack (expected 2)"
