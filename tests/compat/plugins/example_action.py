"""
title: Example Action
author: open-webui
author_url: https://github.com/open-webui
funding_url: https://github.com/open-webui
version: 0.1.0
required_open_webui_version: 0.3.9
"""

# Imitates: Open WebUI's official "Example Action" (the open-webui/functions examples and
# the docs' action page). NOT its verbatim text: Airlock copies no code from other
# projects, so this re-creates its observable behaviour line for line: the same
# frontmatter, the same unused top-level imports (os, requests: undeclared, as upstream),
# an empty Valves, a print of the module name, an "input" event call, a print of the
# answer, then status "adding message" (not done), a one-second sleep, a "message" event
# carrying the answer, status "added message" (done), and None returned.

import asyncio
import os
from typing import Generator, Iterator, Optional, Union

import requests
from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        pass

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __event_call__=None) -> Optional[dict]:
        print(f"action:{__name__}")
        prompt = {
            "title": "write a message",
            "message": "the message to append",
            "placeholder": "your message",
        }
        answer = await __event_call__({"type": "input", "data": prompt})
        print(answer)
        if not __event_emitter__:
            return None
        await __event_emitter__({"type": "status", "data": {"description": "adding message", "done": False}})
        await asyncio.sleep(1)
        await __event_emitter__({"type": "message", "data": {"content": answer}})
        await __event_emitter__({"type": "status", "data": {"description": "added message", "done": True}})
        return None
