"""
title: Lookups
description: looks up the clicking user and the user an admin named in its valves
"""

from open_webui.models.users import Users
from pydantic import BaseModel


class Action:
    class Valves(BaseModel):
        other_user_id: str = ""

    class UserValves(BaseModel):
        nickname: str = "nobody"

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__):
        own = await Users.get_user_by_id(__user__["id"])
        try:
            other = await Users.get_user_by_id(self.valves.other_user_id)
            other = None if other is None else other.email
        except Exception as exc:
            other = f"{type(exc).__name__}: {exc}"
        return {"own": own.email, "role": own.role, "other": other, "nickname": __user__["valves"].nickname}
