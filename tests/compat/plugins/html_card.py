"""
title: HTML Card
author: community-style
version: 1.2
description: Shows the last answer as a card (Rich UI embed).
"""

import html

from fastapi.responses import HTMLResponse


class Action:
    async def action(self, body, __event_emitter__=None):
        text = html.escape(body["messages"][-1]["content"])
        page = f"<html><body><div class='card'>{text}</div></body></html>"
        return HTMLResponse(content=page, headers={"Content-Disposition": "inline"})
