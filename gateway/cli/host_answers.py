"""How ``airlock invoke`` answers host requests (the Open WebUI internals plugins use).

* ``generate_chat_completion``: from an OpenAI-compatible endpoint given with
  ``--openai-url`` (or ``AIRLOCK_OPENAI_URL``); the key comes only from
  ``AIRLOCK_OPENAI_API_KEY`` (a command line is readable by every user through /proc).
* ``users.get_user_by_id``: the ``--user`` object answers for its own id; other users, and
  ``chats.get_chat_by_id`` and ``files.get_file_by_id``, from ``--host-data FILE``, a JSON
  object ``{"users": {id: user}, "chats": {id: chat}, "files": {id: file}, "models": {id: model}}``.
* ``models.*`` (every ``Models`` lookup) from its ``"models"`` records
  (airlock.client.host.model_records), with the owners ``get_models`` attaches taken from
  the users above.

A method with no source is not advertised, so a plugin that uses it gets a clear error at
once instead of waiting for an answer that never comes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import orjson

from airlock.client.host import HostHandler, model_records, records
from airlock.client.openai import OpenAIChatCompletions
from runner import exact_json

#: --host-data keys → the host request method each answers by id.
_RECORD_METHODS = {
    "users": "users.get_user_by_id",
    "chats": "chats.get_chat_by_id",
    "files": "files.get_file_by_id",
}
#: The --host-data key whose records answer every models.* method.
_MODELS = "models"
_KEYS = (*_RECORD_METHODS, _MODELS)


def _host_data(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = exact_json.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--host-data") from None
    if not isinstance(data, dict) or set(data) - set(_KEYS):
        raise click.BadParameter(
            f"{path}: expected an object with only the keys {', '.join(_KEYS)}", param_hint="--host-data"
        )
    for key, value in data.items():
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise click.BadParameter(f"{path}: {key!r} must map ids to objects", param_hint="--host-data")
    return data


def handlers(
    *, user: dict[str, Any] | None, host_data: Path | None, openai_url: str | None, openai_model: str | None
) -> dict[str, HostHandler]:
    """The host request handlers the options and environment make available."""
    tables: dict[str, dict[str, Any]] = _host_data(host_data) if host_data else {}
    if user and isinstance(user.get("id"), str):
        tables["users"] = {user["id"]: user, **tables.get("users", {})}
    answer: dict[str, HostHandler] = {}
    for key, by_id in tables.items():
        if key == _MODELS:
            answer.update(model_records(by_id, users=tables.get("users")))
        else:
            answer.update(records(_RECORD_METHODS[key], by_id))
    if openai_url:
        answer["generate_chat_completion"] = OpenAIChatCompletions(
            openai_url, api_key=os.environ.get("AIRLOCK_OPENAI_API_KEY") or None, model=openai_model
        )
    return answer
