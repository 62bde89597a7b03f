"""``airlock invoke`` answers host requests: an OpenAI-compatible endpoint, --user, --host-data."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.fake_openai import FakeOpenAI, fake_openai
from tests.conftest import command_environment
from tests.integration.test_cli import AIRLOCK, Served, put, serving

pytestmark = pytest.mark.timeout(90)

COMPAT = Path(__file__).parent.parent / "compat" / "plugins"
PLUGINS = Path(__file__).parent.parent / "plugins"
USER = {"id": "u-7", "email": "lin@example.com", "name": "Lin", "role": "user"}
BODY = {"model": "llama3", "messages": [{"role": "user", "content": "hello there"}], "chat_id": "c-1"}


@pytest.fixture
def server(tmp_path: Path, profiles_dir: Path) -> Iterator[Served]:
    with serving(tmp_path, profiles_dir) as served:
        yield served


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with fake_openai() as endpoint:
        yield endpoint


def invoke(server: Served, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [AIRLOCK, "--target", server.target, "invoke", *args]
    environment = command_environment(**(env or {}))
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False, env=environment
    )


def test_chat_completions_come_from_the_openai_endpoint(server: Served, openai: FakeOpenAI) -> None:
    put(server, COMPAT / "summarize_chat.py")
    done = invoke(
        server, "summarize_chat", "--body", json.dumps(BODY), "--user", json.dumps(USER),
        "--openai-url", openai.base_url, "--openai-model", "tiny",
        env={"AIRLOCK_OPENAI_API_KEY": "sk-test-key"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["summary"] == "USER: HELLO THERE"
    assert "» host request users.get_user_by_id" in done.stderr
    assert "» host request generate_chat_completion" in done.stderr
    [sent] = openai.requests
    assert sent["model"] == "tiny"
    assert "chat_id" not in sent
    assert openai.authorizations == ["Bearer sk-test-key"]


def test_streamed_completions_arrive_as_deltas(server: Served, openai: FakeOpenAI) -> None:
    put(server, COMPAT / "rewrite_streaming.py")
    done = invoke(server, "rewrite_streaming", "--json", "--body", json.dumps(BODY), "--openai-url", openai.base_url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    [request] = [line["host_request"] for line in lines if "host_request" in line]
    assert (request["method"], request["stream"]) == ("generate_chat_completion", True)
    deltas = [
        line["event"]["data"]["content"] for line in lines if line.get("event", {}).get("type") == "chat:message:delta"
    ]
    assert deltas == ["HELLO ", "THERE "]


def test_without_a_source_the_method_is_not_offered(server: Served, tmp_path: Path) -> None:
    put(server, COMPAT / "summarize_chat.py")
    done = invoke(server, "summarize_chat", "--body", json.dumps(BODY), "--user", json.dumps(USER))
    assert done.returncode == 1
    assert "HostUnavailable" in done.stderr
    assert "does not answer 'generate_chat_completion'" in done.stderr


def test_lookups_come_from_host_data(server: Served, tmp_path: Path) -> None:
    put(server, COMPAT / "file_digest.py")
    data = tmp_path / "host.json"
    data.write_text(
        json.dumps({"files": {"f-1": {"id": "f-1", "user_id": "u", "filename": "a.txt", "data": {"content": "a b"}}}})
    )
    body = {**BODY, "files": [{"id": "f-1"}]}
    done = invoke(server, "file_digest", "--body", json.dumps(body), "--host-data", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [{"id": "f-1", "name": "a.txt", "words": 2}]


def test_models_come_from_host_data_with_their_owners(server: Served, tmp_path: Path) -> None:
    put(server, PLUGINS / "host_models.py")
    base = {"id": "llama3", "user_id": "u-7", "name": "Llama 3", "params": {}, "meta": {}, "is_active": True}
    custom = {**base, "id": "brief", "base_model_id": "llama3", "name": "Brief"}
    data = tmp_path / "host.json"
    data.write_text(json.dumps({"models": {"llama3": base, "brief": custom}}))
    body = json.dumps({"mode": "lists", "ids": ["brief"]})
    done = invoke(server, "host_models", "--body", body, "--user", json.dumps(USER), "--host-data", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "all": ["llama3", "brief"], "by_ids": ["brief"], "custom": [["brief", "lin@example.com"]], "base": ["llama3"],
    }  # fmt: skip
    assert "» host request models.get_models" in done.stderr


def test_malformed_host_data_is_a_usage_error(server: Served, tmp_path: Path) -> None:
    data = tmp_path / "host.json"
    data.write_text(json.dumps({"groups": {}}))
    done = invoke(server, "anything", "--host-data", str(data))
    assert done.returncode == 2
    assert "--host-data" in done.stderr
    assert "only the keys users, chats, files, models" in done.stderr
