"""
title: Personal Greeting
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.1.0
description: Greets you by name, in your language, and says which model is listening. Set it up in your user valves.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/hand.svg
required_open_webui_version: 0.5.0
license: MIT
"""

from typing import Literal

from pydantic import BaseModel, Field

GREETINGS = {
    "en": ("Hi", "Good day"),
    "es": ("Hola", "Buenos días"),
    "fr": ("Salut", "Bonjour"),
    "de": ("Hallo", "Guten Tag"),
}
READY = {
    "en": "{model} is ready when you are.",
    "es": "{model} está listo cuando tú lo estés.",
    "fr": "{model} est prêt quand vous l'êtes.",
    "de": "{model} ist bereit, wenn du es bist.",
}


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="Button position among message actions (lower comes first).")
        sign_off: str = Field(default="", description="Text added after every greeting, e.g. your team's name.")

    class UserValves(BaseModel):
        nickname: str = Field(default="", description="What to call you (defaults to your account name).")
        language: Literal["en", "es", "fr", "de"] = Field(default="en", description="Greeting language.")
        formal: bool = Field(default=False, description="Use the formal greeting.")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __model__=None):
        user = __user__ or {}
        prefs = user.get("valves") or self.UserValves()
        name = prefs.nickname or user.get("name") or "there"
        casual, formal = GREETINGS[prefs.language]
        model = (__model__ or {}).get("name") or body.get("model") or "Your assistant"

        greeting = f"{formal if prefs.formal else casual}, {name}! {READY[prefs.language].format(model=model)}"
        if self.valves.sign_off:
            greeting = f"{greeting} {self.valves.sign_off}"
        if __event_emitter__:
            await __event_emitter__({"type": "notification", "data": {"type": "info", "content": greeting}})
        return greeting
