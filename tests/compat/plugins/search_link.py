"""
title: Search Link
author: community-style
version: 0.2.0
description: Turns the last message into a web-search link the user can open.
"""

# Imitates: the many community actions that `import requests` at the top without declaring
# it in `requirements` (Open WebUI ships requests), here only to build and encode a URL.

import requests
from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        search_url: str = Field(default="https://duckduckgo.com/", description="Search engine URL")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __event_emitter__=None) -> dict:
        query = body["messages"][-1]["content"]
        prepared = requests.Request("GET", self.valves.search_url, params={"q": query}).prepare()
        if __event_emitter__:
            await __event_emitter__(
                {"type": "status", "data": {"description": f"Search: {prepared.url}", "done": True}}
            )
        return {"url": prepared.url, "method": prepared.method}
