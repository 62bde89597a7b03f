"""A community-style action with frontmatter requirements, installed from a wheelhouse built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from tests.helpers import drain
from tests.wheels import build_wheel

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

PLUGIN = Path(__file__).parent / "plugins" / "markdown_preview.py"
TINYMARK = """
import re


def render(text):
    text = re.sub(r"\\*\\*(.+?)\\*\\*", r"<b>\\1</b>", text)
    return "<p>" + text + "</p>"
"""


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, tmp_path_factory: pytest.TempPathFactory) -> GatewayConfig:
    wheelhouse = tmp_path_factory.mktemp("compat") / "wheelhouse"
    build_wheel(wheelhouse, "tinymark", "1.2", {"tinymark/__init__.py": TINYMARK})
    build_wheel(wheelhouse, "slugkit", "0.3", {"slugkit.py": "def slug(t):\n    return t.lower().replace(' ', '-')\n"})
    return gateway_config.model_copy(
        update={
            "requirements_install": True,
            "requirements_wheelhouse": wheelhouse,
            "requirements_timeout_seconds": 60.0,
        }
    )


async def test_markdown_preview_installs_its_requirements_and_embeds(client: AirlockClient) -> None:
    record = await client.put_function("markdown_preview", PLUGIN.read_text(), valves={"theme": "dark"})
    assert record.requirements == ("slugkit", "tinymark>=1.0")
    assert record.requirements_state == "ready"
    assert sorted(record.requirements_installed) == ["slugkit==0.3", "tinymark==1.2"]
    body = {"model": "m", "messages": [{"role": "assistant", "content": "Hello **World**"}]}
    drained = await drain(client, "markdown_preview", body=body)
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.event_pairs() == [
        ("status", {"description": "rendered hello-**world**", "done": True}),
        ("embeds", {"embeds": ["<div class='dark'><p>Hello <b>World</b></p></div>"]}),
    ]
    # The context given with the response is the value, as upstream; the package came from
    # the function's own read-only set.
    assert drained.result.value["rendered_from"].startswith("/airlock/site/tinymark/")
