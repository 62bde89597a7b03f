"""
title: Valved
"""

from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=5, description="button order")
        api_key: str = ""
        retries: int = Field(default=2, ge=0, le=10)

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body):
        return self.valves.model_dump()
