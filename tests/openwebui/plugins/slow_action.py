"""
title: Slow
description: says it started, then takes its time
"""

import asyncio


class Action:
    async def action(self, body, __event_emitter__):
        await __event_emitter__({"type": "status", "data": {"description": "started", "done": False}})
        await asyncio.sleep(8)
        return "finished"
