"""``open_webui.models.chats`` stand-in: ``Chats.get_chat_by_id`` asks the host (runs in the sandbox)."""

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


Chats = ChatTable()
