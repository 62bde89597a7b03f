"""Chats' read lookups that plugins call besides get_chat_by_id, derived from the host's chat record."""

from __future__ import annotations

from typing import Any

import pytest

from airlock.client import AirlockClient, Outcome
from airlock.client.host import records
from tests.helpers import drain

pytestmark = pytest.mark.anyio

MESSAGES = {"m1": {"id": "m1", "role": "user", "content": "hi"}, "m2": {"id": "m2", "role": "assistant"}}
CHAT: dict[str, Any] = {"id": "c1", "user_id": "u1", "title": "", "chat": {"history": {"messages": MESSAGES}}}

READS = '''"""
title: Reads a chat
"""
from open_webui.models.chats import Chats


class Action:
    async def action(self, body):
        own = await Chats.get_chat_by_id_and_user_id(id="c1", user_id="u1")
        return {
            "own": own.id if own else None,
            "others": await Chats.get_chat_by_id_and_user_id("c1", "u2"),
            "title": await Chats.get_chat_title_by_id("c1"),
            "missing_title": await Chats.get_chat_title_by_id("nope"),
            "messages": sorted(await Chats.get_messages_map_by_chat_id("c1")),
            "message": await Chats.get_message_by_id_and_message_id("c1", "m1"),
            "absent_message": await Chats.get_message_by_id_and_message_id("c1", "m9"),
            "absent_chat": await Chats.get_message_by_id_and_message_id("nope", "m1"),
        }
'''


async def test_the_user_scoped_and_message_lookups_read_the_hosts_record(client: AirlockClient) -> None:
    await client.put_function("reads_chat", READS)
    drained = await drain(client, "reads_chat", host=records("chats.get_chat_by_id", {"c1": CHAT}))
    assert drained.result.outcome is Outcome.OK, drained.result.error
    assert drained.result.value == {
        "own": "c1",
        "others": None,
        "title": "New Chat",  # upstream's title for a chat without one
        "missing_title": None,
        "messages": ["m1", "m2"],
        "message": MESSAGES["m1"],
        "absent_message": {},
        "absent_chat": None,
    }
