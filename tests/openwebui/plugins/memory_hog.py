"""
title: Memory Hog
description: says it starts, then asks for far more memory than any sandbox allows
"""


class Action:
    async def action(self, body, __event_emitter__):
        await __event_emitter__({"type": "status", "data": {"description": "allocating", "done": False}})
        blob = bytearray(8 * 1024 * 1024 * 1024)
        return len(blob)
