"""
title: Reading Time
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.0.0
description: Estimates how long the clicked message takes to read. A plain synchronous action with no events.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/clock.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import math

from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="Button position among message actions (lower comes first).")
        words_per_minute: int = Field(default=230, ge=50, le=1000, description="Average reading speed.")

    def __init__(self):
        self.valves = self.Valves()

    # A plain def: Open WebUI calls it directly (no await), so it must not block for long.
    def action(self, body: dict):
        messages = body.get("messages") or []
        text = (messages[-1].get("content") or "") if messages else ""
        words = len(text.split())
        seconds = math.ceil(words * 60 / self.valves.words_per_minute)
        minutes = max(1, math.ceil(seconds / 60)) if words else 0
        return {
            "words": words,
            "seconds": seconds,
            "minutes": minutes,
            "label": f"About {minutes} min read" if minutes else "Nothing to read",
        }
