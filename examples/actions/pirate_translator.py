"""
title: Translate to Pirate
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 0.3.1
description: Rewrites the clicked message in pirate speak, streaming the new text as it goes.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/skull.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import asyncio
import re

from pydantic import BaseModel, Field

PIRATE = {
    "hello": "ahoy",
    "hi": "ahoy",
    "hey": "ahoy",
    "yes": "aye",
    "no": "nay",
    "my": "me",
    "friend": "matey",
    "friends": "hearties",
    "you": "ye",
    "your": "yer",
    "is": "be",
    "are": "be",
    "am": "be",
    "the": "th'",
    "of": "o'",
    "for": "fer",
    "and": "an'",
    "stop": "avast",
    "wow": "blimey",
    "money": "doubloons",
    "treasure": "booty",
    "boy": "lad",
    "girl": "lass",
    "small": "wee",
    "drink": "grog",
    "food": "grub",
    "where": "whar",
    "think": "reckon",
    "everyone": "all hands",
    "computer": "cursed box",
}
WORD = re.compile(r"[A-Za-z]+")


def piratify(text: str) -> str:
    def swap(match: re.Match) -> str:
        word = match.group(0)
        pirate = PIRATE.get(word.lower())
        if pirate is None:
            return word
        if word.isupper() and len(word) > 1:
            return pirate.upper()
        if word[0].isupper():
            return pirate[0].upper() + pirate[1:]
        return pirate

    return WORD.sub(swap, text)


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=10, description="Button position among message actions (lower comes first).")
        words_per_chunk: int = Field(default=3, ge=1, description="Words sent per streamed delta.")
        delay_ms: int = Field(default=15, ge=0, le=1000, description="Pause between deltas, for a typing effect.")

    class UserValves(BaseModel):
        flourish: bool = Field(default=True, description="End every translation with a hearty 'Arrr!'.")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __event_call__=None):
        messages = body.get("messages") or []
        if not messages or not __event_emitter__:
            return None
        original = messages[-1].get("content") or ""
        translated = piratify(original)
        user_valves = (__user__ or {}).get("valves")
        if user_valves is None or user_valves.flourish:
            translated = f"{translated.rstrip()} Arrr!"

        await __event_emitter__({"type": "status", "data": {"description": "Hoisting the sails…", "done": False}})
        # Clear the message, then stream the translation into it chunk by chunk.
        await __event_emitter__({"type": "chat:message", "data": {"content": ""}})
        words = re.findall(r"\S+\s*", translated)
        size = self.valves.words_per_chunk
        for start in range(0, len(words), size):
            chunk = "".join(words[start : start + size])
            await __event_emitter__({"type": "chat:message:delta", "data": {"content": chunk}})
            if self.valves.delay_ms:
                await asyncio.sleep(self.valves.delay_ms / 1000)
        await __event_emitter__(
            {"type": "status", "data": {"description": f"Translated {len(words)} words", "done": True}}
        )
        return {"content": translated}
