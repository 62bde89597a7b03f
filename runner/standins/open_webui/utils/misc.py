"""``open_webui.utils.misc`` stand-in: the pure message helpers plugins use (runs in the sandbox).

Same behaviour as upstream's (0.12.4) for the helpers listed here; they touch only the
messages they are given.
"""

from __future__ import annotations

from typing import Any


def get_output_text(output: Any) -> str:
    """The text of the ``message`` items of a Responses-style ``output`` list, one per line."""
    if not isinstance(output, list):
        return ""
    texts = []
    for item in output:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        parts = item.get("content") or []
        if not isinstance(parts, list):
            continue
        text = "".join(str(p["text"]) for p in parts if isinstance(p, dict) and p.get("text") is not None)
        if text and not text.isspace():
            texts.append(text)
    return "\n".join(texts)


def get_content_from_message(message: dict[str, Any]) -> str | None:
    """A message's text: the first text part of list content, else the content, else its output."""
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                return part.get("text")
    elif content:
        return content  # type: ignore[no-any-return]
    text = get_output_text(message.get("output"))
    return text or (content if isinstance(content, str) else None)


def _last(messages: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    return next((m for m in reversed(messages) if m["role"] == role), None)


def get_last_user_message_item(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last message whose role is ``user``."""
    return _last(messages, "user")


def get_last_user_message(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last user message."""
    message = _last(messages, "user")
    return None if message is None else get_content_from_message(message)


def get_last_assistant_message_item(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last message whose role is ``assistant``."""
    return _last(messages, "assistant")


def get_last_assistant_message(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last assistant message."""
    message = _last(messages, "assistant")
    return None if message is None else get_content_from_message(message)


def get_system_message(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first message whose role is ``system``."""
    return next((m for m in messages if m["role"] == "system"), None)


def remove_system_message(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages without system messages."""
    return [m for m in messages if m["role"] != "system"]


def pop_system_message(messages: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The system message and the others."""
    return get_system_message(messages), remove_system_message(messages)
