"""
title: Sleeper
"""

import asyncio


class Action:
    async def action(self, body, __event_call__=None):
        if body.get("ask"):
            await __event_call__({"type": "confirmation", "data": {"title": "hold the slot"}})
        await asyncio.sleep(body.get("seconds", 0))
        return body.get("seconds", 0)
