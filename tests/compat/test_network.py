"""A community-style action calling an HTTP API: the allowed server answers, others are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.client import AirlockClient, Outcome
from tests.hello_server import hello_server
from tests.helpers import drain

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

PLUGIN = Path(__file__).parent / "plugins" / "ollama_models.py"


@pytest.fixture(scope="module")
def allowed() -> Iterator[int]:
    with hello_server() as port:
        yield port


@pytest.fixture(scope="module")
def refused() -> Iterator[int]:
    with hello_server() as port:
        yield port


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path, allowed: int) -> Path:
    # Like the shipped `networked` profile: one model server on this host, by its literal.
    (profiles_dir / "ollama.toml").write_text(f'network = "egress"\negress_allow = ["127.0.0.1:{allowed}"]\n')
    return profiles_dir


async def models(client: AirlockClient, url: str, profile: str = "ollama") -> tuple[Outcome, object]:
    await client.put_function("ollama_models", PLUGIN.read_text(), profile=profile, valves={"ollama_url": url})
    drained = await drain(client, "ollama_models", body={"model": "m", "messages": []})
    return drained.result.outcome, drained.result.value


async def test_the_allowed_server_answers(client: AirlockClient, allowed: int) -> None:
    assert await models(client, f"http://127.0.0.1:{allowed}") == (Outcome.OK, {"models": "hello /api/tags"})
    # `localhost` resolves inside the sandbox (its own hosts file) to the same grant.
    assert await models(client, f"http://localhost:{allowed}") == (Outcome.OK, {"models": "hello /api/tags"})


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        # Landlock lets the sandbox connect to its forwarders' ports only (EACCES); the
        # relay would refuse the address too, and the netns has no route anyway.
        ("refused_port", "[Errno 13] Permission denied"),
        ("metadata", "[Errno 13] Permission denied"),
        ("unlisted_name", "[Errno -2] Name or service not known"),
    ],
)
async def test_other_destinations_are_refused(client: AirlockClient, refused: int, where: str, reason: str) -> None:
    url = {
        "refused_port": f"http://127.0.0.1:{refused}",
        "metadata": "http://169.254.169.254",
        "unlisted_name": "http://ollama.example.com:11434",
    }[where]
    assert await models(client, url) == (Outcome.OK, {"error": "URLError", "reason": reason})


async def test_the_default_profile_has_no_network_at_all(client: AirlockClient, allowed: int) -> None:
    outcome, value = await models(client, f"http://127.0.0.1:{allowed}", profile="default")
    assert outcome is Outcome.OK
    # seccomp: no inet sockets at all without network.
    assert value == {"error": "URLError", "reason": "[Errno 97] Address family not supported by protocol"}
