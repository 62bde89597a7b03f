"""
title: Patient
"""

import asyncio


class Action:
    async def action(self, body, __event_call__, __event_emitter__):
        try:
            first = await asyncio.wait_for(__event_call__({"type": "input", "data": {"title": "quick?"}}), 0.3)
        except asyncio.TimeoutError:
            first = "gave up"
        await __event_emitter__({"type": "status", "data": {"description": first}})
        second = await __event_call__({"type": "input", "data": {"title": "second"}})
        await asyncio.sleep(body.get("then_sleep", 0))
        return [first, second]
