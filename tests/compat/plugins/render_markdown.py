"""
title: Render Markdown
author: community-style
version: 0.1.2
description: Renders the last answer to HTML with Python-Markdown.
"""

# Imitates: community "render/preview" actions that `import markdown` (Python-Markdown, an
# Open WebUI dependency) without declaring it, with the usual extensions.

import markdown
from pydantic import BaseModel


class Action:
    class Valves(BaseModel):
        extensions: str = "fenced_code,tables"

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __event_emitter__=None) -> dict:
        text = body["messages"][-1]["content"]
        extensions = [e.strip() for e in self.valves.extensions.split(",") if e.strip()]
        return {"html": markdown.markdown(text, extensions=extensions), "version": markdown.__version__}
