"""
title: Emitter
description: emits what the body asks for
"""


class Action:
    async def action(self, body, __event_emitter__):
        for event in body.get("events", []):
            await __event_emitter__(event)
        return body.get("return", "done")
