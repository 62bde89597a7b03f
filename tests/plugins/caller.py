"""
title: Caller
"""

import asyncio


class Action:
    async def action(self, body, __event_call__, __event_emitter__):
        answers = []
        for call in body.get("calls", []):
            answers.append(await __event_call__(call))
            await __event_emitter__({"type": "status", "data": {"description": f"answered {len(answers)}"}})
        if body.get("then_sleep"):
            await asyncio.sleep(body["then_sleep"])
        return answers
