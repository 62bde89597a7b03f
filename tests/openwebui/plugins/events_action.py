"""
title: Events
description: emits a status, two message chunks and a final status, then returns a value
"""


class Action:
    async def action(self, body, __event_emitter__, __user__, __id__, __model__):
        await __event_emitter__({"type": "status", "data": {"description": "working", "done": False}})
        await __event_emitter__({"type": "message", "data": {"content": "part one; "}})
        await __event_emitter__({"type": "message", "data": {"content": "part two"}})
        await __event_emitter__({"type": "status", "data": {"description": "finished", "done": True}})
        return {
            "clicked": __id__,
            "user": __user__["email"],
            "model": __model__["id"],
            "message_id": body["id"],
            "chat_id": body["chat_id"],
            "body_keys": sorted(body),
        }
