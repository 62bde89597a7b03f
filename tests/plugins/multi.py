"""
title: Multi
description: several buttons
icon_url: https://example.com/multi.svg
"""


class Action:
    actions = [
        {"id": "upper", "name": "Upper case"},
        {"id": "lower", "icon_url": "https://example.com/lower.svg"},
    ]

    async def action(self, body, __id__):
        text = body.get("text", "")
        return text.upper() if __id__ == "upper" else text.lower()
