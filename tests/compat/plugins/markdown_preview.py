"""
title: Markdown Preview
author: community-style
version: 2.0.1
description: Renders the last answer with the markdown library and shows it inline.
requirements: tinymark>=1.0, slugkit
"""

from fastapi.responses import HTMLResponse
from pydantic import BaseModel

import slugkit
import tinymark


class Action:
    class Valves(BaseModel):
        theme: str = "light"

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __event_emitter__=None):
        text = body["messages"][-1]["content"]
        html = tinymark.render(text)
        await __event_emitter__(
            {"type": "status", "data": {"description": f"rendered {slugkit.slug(text)}", "done": True}}
        )
        return HTMLResponse(
            f"<div class='{self.valves.theme}'>{html}</div>", headers={"Content-Disposition": "inline"}
        ), {
            "rendered_from": tinymark.__file__,
        }
