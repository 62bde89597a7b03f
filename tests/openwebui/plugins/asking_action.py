"""
title: Asking
description: asks for a confirmation and an input through __event_call__, reports the answers
"""


class Action:
    async def action(self, body, __event_emitter__, __event_call__):
        confirmed = await __event_call__(
            {"type": "confirmation", "data": {"title": "Proceed?", "message": "Really do it?"}}
        )
        text = await __event_call__(
            {"type": "input", "data": {"title": "Name", "message": "Who are you?", "placeholder": "a name"}}
        )
        await __event_emitter__({"type": "message", "data": {"content": f"confirmed={confirmed!r} text={text!r}"}})
        return {"confirmed": confirmed, "text": text}
