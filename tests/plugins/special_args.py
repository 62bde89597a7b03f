"""
title: Special arguments
"""

from pydantic import BaseModel


class Action:
    class Valves(BaseModel):
        priority: int = 0
        greeting: str = "hello"

    class UserValves(BaseModel):
        nickname: str = "anon"
        shout: bool = False

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__, __model__, __request__, __id__, __event_emitter__, __event_call__):
        valves = __user__.get("valves")
        user = {k: v for k, v in __user__.items() if k != "valves"}
        return {
            "body": body,
            "user": user,
            "user_valves_type": type(valves).__name__ if valves is not None else None,
            "user_valves": valves.model_dump() if valves is not None else None,
            "model": __model__,
            "id": __id__,
            "admin_valves": self.valves.model_dump(),
            "request": {
                "method": __request__.method,
                "url": str(__request__.url),
                "path": __request__.url.path,
                "headers": dict(__request__.headers),
                "content_type": __request__.headers.get("Content-Type"),
                "query_params": dict(__request__.query_params),
                "cookies": __request__.cookies,
                "client": list(__request__.client) if __request__.client else None,
            },
            "emitter_is_coroutine_function": __import__("inspect").iscoroutinefunction(__event_emitter__),
            "caller_is_coroutine_function": __import__("inspect").iscoroutinefunction(__event_call__),
        }
