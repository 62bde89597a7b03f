"""
title: Valves
description: reports its admin valves and the clicking user's valves
"""

from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        greeting: str = Field(default="hello", description="said first")
        times: int = Field(default=1, description="how many times")

    class UserValves(BaseModel):
        nickname: str = Field(default="nobody", description="what to call the user")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__, __event_emitter__):
        user_valves = __user__.get("valves")
        report = {
            "greeting": self.valves.greeting,
            "times": self.valves.times,
            "nickname": user_valves.nickname if user_valves is not None else None,
            "user_valves_type": type(user_valves).__name__,
            "role": __user__["role"],
        }
        await __event_emitter__({"type": "message", "data": {"content": f"{report}"}})
        return report
