"""
title: Sub Actions
description: one function, two buttons
"""


class Action:
    actions = [
        {"id": "first", "name": "First button", "icon_url": "data:image/svg+xml;base64,PHN2Zy8+"},
        {"id": "second", "name": "Second button"},
    ]

    async def action(self, body, __id__, __event_emitter__):
        await __event_emitter__({"type": "status", "data": {"description": f"clicked {__id__}", "done": True}})
        return {"clicked": __id__}
