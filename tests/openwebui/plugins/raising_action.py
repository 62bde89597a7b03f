"""
title: Raising
description: emits a status, then raises
"""


class Action:
    async def action(self, body, __event_emitter__):
        await __event_emitter__({"type": "status", "data": {"description": "about to fail", "done": False}})
        raise ValueError("the plugin refuses")
