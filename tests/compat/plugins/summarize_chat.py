"""
title: Summarize Chat
author: community-style
author_url: https://example.com/summarize
version: 0.3.1
required_open_webui_version: 0.5.0
description: Summarizes the conversation with the current model and replaces the message.
icon_url: data:image/svg+xml;base64,PHN2Zy8+
"""

from typing import Optional

from fastapi import Request
from pydantic import BaseModel, Field

from open_webui.models.users import Users
from open_webui.utils.chat import generate_chat_completion
from open_webui.utils.misc import get_last_user_message


class Action:
    class Valves(BaseModel):
        model: str = Field(default="", description="Model for summaries (empty: the chat's model).")
        max_words: int = Field(default=50, description="Longest summary.")

    def __init__(self):
        self.valves = self.Valves()

    async def action(
        self,
        body: dict,
        __user__: Optional[dict] = None,
        __event_emitter__=None,
        __request__: Request = None,
    ) -> Optional[dict]:
        await __event_emitter__({"type": "status", "data": {"description": "Summarizing...", "done": False}})
        user = await Users.get_user_by_id(__user__["id"])
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in body["messages"])
        payload = {
            "model": self.valves.model or body["model"],
            "messages": [
                {"role": "system", "content": f"Summarize in at most {self.valves.max_words} words."},
                {"role": "user", "content": transcript},
            ],
            "stream": False,
        }
        response = await generate_chat_completion(__request__, payload, user)
        summary = response["choices"][0]["message"]["content"]
        await __event_emitter__({"type": "chat:message", "data": {"content": summary}})
        await __event_emitter__({"type": "status", "data": {"description": "Done", "done": True}})
        return {"summary": summary, "asked_by": user.name, "last": get_last_user_message(body["messages"])}
