"""Answering the models.* host requests from fixed records, as the CLI's --host-data does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from airlock.client import HostRequest
from airlock.client.host import model_records
from gateway.cli import host_answers
from runner.wire import HOST_METHODS

OWNER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "admin", "settings": {"secret": 1}}
BASE = {
    "id": "llama3", "user_id": "u-1", "base_model_id": None, "name": "Llama 3",
    "params": {}, "meta": {"tags": ["local"]}, "is_active": True,
}  # fmt: skip
CUSTOM = {
    "id": "summarizer", "user_id": "u-1", "base_model_id": "llama3", "name": "Summarizer",
    "params": {}, "meta": {"tags": [{"name": "work"}]}, "is_active": True,
}  # fmt: skip
SHARED = {
    **CUSTOM, "id": "shared", "user_id": "u-2",
    "access_grants": [{"principal_type": "user", "principal_id": "u-3", "permission": "write"}],
}  # fmt: skip
MODELS: dict[str, dict[str, Any]] = {str(m["id"]): m for m in (BASE, CUSTOM, SHARED)}


def ask(handlers: dict[str, Any], method: str, **args: Any) -> Any:
    return handlers[method](HostRequest(1, "r", method, orjson.dumps(args), False, 5.0))


def test_every_models_method_is_answered() -> None:
    handlers = model_records(MODELS)
    assert set(handlers) == {m for m in HOST_METHODS if m.startswith("models.")}
    assert ask(handlers, "models.get_model_by_id", id="llama3") == BASE
    assert ask(handlers, "models.get_model_by_id", id="nothing") is None
    assert ask(handlers, "models.get_all_models") == [BASE, CUSTOM, SHARED]
    assert ask(handlers, "models.get_models_by_ids", ids=["shared", "nothing", "llama3", "shared"]) == [SHARED, BASE]


def test_get_models_are_the_custom_ones_with_only_upstreams_owner_fields() -> None:
    handlers = model_records(MODELS, users={"u-1": OWNER})
    got = ask(handlers, "models.get_models", writable_by_user_id=None, ids=None)
    assert [m["id"] for m in got] == ["summarizer", "shared"]
    assert got[0]["user"] == {"id": "u-1", "name": "Ada", "role": "admin", "email": "ada@example.com"}
    assert got[1]["user"] is None  # u-2 is not among the users
    assert ask(handlers, "models.get_models", ids=["shared", "llama3"])[0]["id"] == "shared"
    assert ask(handlers, "models.get_models", ids=[]) == []
    # Writable: the owner, or a write grant for this user (or for everyone).
    assert [m["id"] for m in ask(handlers, "models.get_models", writable_by_user_id="u-1")] == ["summarizer"]
    assert [m["id"] for m in ask(handlers, "models.get_models", writable_by_user_id="u-3")] == ["shared"]
    assert ask(handlers, "models.get_models", writable_by_user_id="u-9") == []


def test_base_models_by_tag_in_either_spelling() -> None:
    handlers = model_records(MODELS)
    assert ask(handlers, "models.get_base_models", tag=None) == [BASE]
    assert ask(handlers, "models.get_base_models", tag="local") == [BASE]
    assert ask(handlers, "models.get_base_models", tag="work") == []


def test_the_cli_answers_models_from_host_data_with_owners_from_users(tmp_path: Path) -> None:
    data = tmp_path / "host.json"
    data.write_text(json.dumps({"models": MODELS, "users": {"u-1": OWNER}}))
    handlers = host_answers.handlers(user=None, host_data=data, openai_url=None, openai_model=None)
    assert {m for m in HOST_METHODS if m.startswith("models.")} <= set(handlers)
    assert ask(handlers, "models.get_models", ids=["summarizer"])[0]["user"]["email"] == "ada@example.com"
