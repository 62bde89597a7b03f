"""
title: World Clock
author: community-style
version: 1.1
description: Shows when the last message was sent, in the time zone of your choice.
"""

# Imitates: community time/date helpers that use pytz (an Open WebUI dependency) without
# declaring it, with the zone as a valve.

from datetime import datetime

import pytz
from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        timezone: str = Field(default="Europe/Lisbon", description="IANA time zone name")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __event_emitter__=None) -> dict:
        zone = pytz.timezone(self.valves.timezone)
        stamp = body["messages"][-1].get("timestamp")
        moment = datetime.fromtimestamp(stamp, pytz.utc) if stamp is not None else datetime.now(pytz.utc)
        local = moment.astimezone(zone)
        text = local.strftime("%Y-%m-%d %H:%M:%S %Z%z")
        if __event_emitter__:
            await __event_emitter__({"type": "status", "data": {"description": f"Sent at {text}", "done": True}})
        return {"zone": zone.zone, "local": text, "abbreviation": local.tzname()}
