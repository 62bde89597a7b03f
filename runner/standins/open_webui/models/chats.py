"""``open_webui.models.chats`` stand-in: ``Chats``' read lookups, from the host's chat record (runs in the sandbox).

The host answers one method, ``chats.get_chat_by_id``; the other lookups plugins use are
upstream's reads of that same record (its owner, title and message history), so they are
derived from it here with upstream's results, and need nothing more from the host.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ._lookup import Table, by_id


class ChatModel(BaseModel):
    """A chat, as Open WebUI's ``ChatModel`` (0.12.4); the conversation is in ``chat``."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    id: str
    user_id: str
    title: str
    chat: dict[str, Any]
    created_at: int = 0
    updated_at: int = 0
    share_id: str | None = None
    archived: bool = False
    pinned: bool | None = False
    meta: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    folder_id: str | None = None
    tasks: list[Any] | None = None
    summary: str | None = None
    current_message_id: str | None = None
    last_read_at: int | None = None
    timer_at: int | None = None


class ChatTable(Table):
    """The part of Open WebUI's ``Chats`` repository plugins use: its lookups, never its writes."""

    _name = "Chats"

    async def get_chat_by_id(self, id: str, db: Any = None) -> ChatModel | None:
        """The chat with this id (the host's method ``chats.get_chat_by_id``), or None."""
        return await by_id("chats.get_chat_by_id", "Chats.get_chat_by_id", ChatModel, id)

    async def get_chat_by_id_and_user_id(self, id: str, user_id: str, db: Any = None) -> ChatModel | None:
        """The chat with this id if ``user_id`` owns it, else None (upstream filters on both)."""
        chat = await self.get_chat_by_id(id)
        return chat if chat is not None and chat.user_id == user_id else None

    async def get_chat_title_by_id(self, id: str) -> str | None:
        """The chat's title ("New Chat" when it has none), or None without such a chat."""
        chat = await self.get_chat_by_id(id)
        return None if chat is None else chat.title or "New Chat"

    async def get_messages_map_by_chat_id(self, id: str) -> dict[str, Any] | None:
        """The chat's messages by id (``chat["history"]["messages"]``), or None without such a chat."""
        chat = await self.get_chat_by_id(id)
        if chat is None:
            return None
        return dict(_messages(chat))

    async def get_message_by_id_and_message_id(self, id: str, message_id: str) -> dict[str, Any] | None:
        """One message of the chat (``{}`` when the chat lacks it), or None without such a chat."""
        chat = await self.get_chat_by_id(id)
        if chat is None:
            return None
        message = _messages(chat).get(message_id)
        return dict(message) if isinstance(message, dict) else {}


def _messages(chat: ChatModel) -> dict[str, Any]:
    history = chat.chat.get("history") if isinstance(chat.chat, dict) else None
    messages = history.get("messages") if isinstance(history, dict) else None
    return messages if isinstance(messages, dict) else {}


Chats = ChatTable()
