"""A ``generate_chat_completion`` handler backed by an OpenAI-compatible HTTP endpoint.

Open WebUI routes a plugin's chat completion through its own models and connections; a host
without that machinery (``airlock invoke``, tests, a small host) can hand it to any server
that speaks ``POST {base_url}/chat/completions`` (OpenAI, Ollama's ``/v1``, llama.cpp,
vLLM...). ``form_data`` is sent as the request body, without Open WebUI's own keys; a
streamed request is read as server-sent events and answered chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from airlock.domain.invocation import HostRequest

#: Keys of Open WebUI's form_data that are its own, not the OpenAI API's.
_OPEN_WEBUI_KEYS = frozenset({"metadata", "chat_id", "id", "session_id", "background_tasks", "features", "files"})
#: Longest part of an error body quoted to the plugin.
_ERROR_BODY_CHARS = 2_000


class EndpointError(Exception):
    """The endpoint answered with an HTTP error."""


class OpenAIChatCompletions:
    """Answers ``generate_chat_completion`` host requests from ``base_url``."""

    def __init__(
        self, base_url: str, *, api_key: str | None = None, model: str | None = None, timeout_seconds: float = 300.0
    ) -> None:
        """``model``, when given, replaces the model the plugin asked for."""
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._timeout = httpx.Timeout(timeout_seconds, connect=10.0)

    def _payload(self, request: HostRequest) -> dict[str, Any]:
        form_data = request.args.get("form_data")
        if not isinstance(form_data, dict):
            raise TypeError("form_data must be an object")
        payload = {k: v for k, v in form_data.items() if k not in _OPEN_WEBUI_KEYS}
        if self._model:
            payload["model"] = self._model
        payload["stream"] = request.stream
        return payload

    def __call__(self, request: HostRequest) -> Any:
        """A coroutine for the completion, or (streamed requests) an async iterator of chunks."""
        payload = self._payload(request)
        return self._stream(payload) if request.stream else self._complete(payload)

    async def _complete(self, payload: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._url, json=payload, headers=self._headers)
            _check(response.status_code, response.text)
            return response.json()

    async def _stream(self, payload: dict[str, Any]) -> AsyncIterator[Any]:
        async with (
            httpx.AsyncClient(timeout=self._timeout) as client,
            client.stream("POST", self._url, json=payload, headers=self._headers) as response,
        ):
            if response.status_code >= 400:
                _check(response.status_code, (await response.aread()).decode("utf-8", "replace"))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # comments, event names, keep-alives
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                yield orjson.loads(data)


def _check(status: int, body: str) -> None:
    if status >= 400:
        raise EndpointError(f"the chat completions endpoint answered HTTP {status}: {body[:_ERROR_BODY_CHARS]}")
