r"""``open_webui.utils.chat`` stand-in: ``generate_chat_completion`` asks the host (runs in the sandbox).

Upstream routes the request through the server's models, filters and connections. Here the
host does that (HostRequest ``generate_chat_completion``): it receives ``form_data`` and the
user, and answers with an OpenAI-style completion, or, when ``form_data["stream"]`` is true,
with OpenAI ``chat.completion.chunk`` objects, which this returns as upstream does: a
``StreamingResponse`` whose ``body_iterator`` yields server-sent-event lines
(``b"data: {...}\\n\\n"``, then ``b"data: [DONE]\\n\\n"``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from runner import exact_json, host

_WHAT = "generate_chat_completion"


def _user(user: Any) -> Any:
    if inspect.iscoroutine(user):
        user.close()  # never awaited on purpose: no "never awaited" warning on top of this error
        raise TypeError(
            "generate_chat_completion: user is a coroutine; Users.get_user_by_id is async "
            "(Open WebUI 0.12): write `user = await Users.get_user_by_id(...)`"
        )
    dump = getattr(user, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if user is None or isinstance(user, dict):
        return user
    raise TypeError(f"generate_chat_completion: user must be a UserModel or a dict, got {type(user).__name__}")


async def _sse(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else exact_json.dumps(chunk)
        yield b"data: " + data + b"\n\n"
    yield b"data: [DONE]\n\n"


async def generate_chat_completion(
    request: Any,
    form_data: dict[str, Any],
    user: Any,
    bypass_filter: bool = False,
    bypass_system_prompt: bool = False,
) -> Any:
    """Run a chat completion on the host's models: a dict, or a StreamingResponse when streaming."""
    if not isinstance(form_data, dict):
        raise TypeError(f"generate_chat_completion: form_data must be a dict, got {type(form_data).__name__}")
    args = {
        "form_data": form_data,
        "user": _user(user),
        "bypass_filter": bool(bypass_filter),
        "bypass_system_prompt": bool(bypass_system_prompt),
    }
    if form_data.get("stream"):
        # Fail now, not at the first read, when the host cannot answer at all.
        chunks = host.stream("generate_chat_completion", args, _WHAT)
        return StreamingResponse(_sse(chunks), media_type="text/event-stream")
    return await host.request("generate_chat_completion", args, _WHAT)
