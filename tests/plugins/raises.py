"""
title: Raises
"""


def helper(value):
    raise ValueError(f"cannot handle {value!r}")


class Action:
    async def action(self, body):
        print("about to fail")
        helper(body.get("value"))
