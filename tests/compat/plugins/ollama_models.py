"""
title: Ollama Models
author: community-style
version: 0.4
description: Lists the models of an Ollama server.
"""

import asyncio
import urllib.request

from pydantic import BaseModel, Field


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


class Action:
    class Valves(BaseModel):
        ollama_url: str = Field(default="http://localhost:11434", description="Ollama base URL")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "status", "data": {"description": "Asking Ollama...", "done": False}})
        try:
            text = await asyncio.to_thread(fetch, self.valves.ollama_url + "/api/tags")
        except Exception as exc:
            await __event_emitter__(
                {"type": "notification", "data": {"type": "error", "content": f"Ollama unreachable: {exc}"}}
            )
            return {"error": type(exc).__name__, "reason": str(getattr(exc, "reason", exc))}
        await __event_emitter__({"type": "status", "data": {"description": "Done", "done": True}})
        return {"models": text}
