"""
title: Rewrite (streaming)
author: community-style
version: 1.0
"""

import json

from pydantic import BaseModel
from utils.chat import generate_chat_completion  # the legacy path Open WebUI rewrites


class Action:
    class Valves(BaseModel):
        style: str = "formal"

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__=None, __event_emitter__=None, __request__=None):
        last = body["messages"][-1]["content"]
        payload = {
            "model": body["model"],
            "messages": [{"role": "user", "content": f"{last}"}],
            "stream": True,
        }
        response = await generate_chat_completion(__request__, payload, __user__)
        await __event_emitter__({"type": "chat:message", "data": {"content": ""}})
        text = ""
        async for chunk in response.body_iterator:
            chunk = chunk.decode() if isinstance(chunk, bytes) else chunk
            for line in chunk.splitlines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[len("data: ") :])["choices"][0]["delta"].get("content", "")
                text += delta
                await __event_emitter__({"type": "chat:message:delta", "data": {"content": delta}})
        return None
