"""
title: Kwargs only
"""


class Action:
    async def action(self, body, **kwargs):
        return {"kwargs": sorted(kwargs), "body_keys": sorted(body)}
