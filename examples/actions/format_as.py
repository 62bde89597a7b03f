"""
title: Format As
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.0.0
description: One button per text case: rewrite the clicked message in UPPERCASE, lowercase, Title Case or Sentence case.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/case-sensitive.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import re

from pydantic import BaseModel, Field

ICONS = "https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons"
SMALL_WORDS = frozenset({"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to"})


def title_case(text: str) -> str:
    words = text.lower().split(" ")
    return " ".join(
        word if (0 < i < len(words) - 1 and word in SMALL_WORDS) else word[:1].upper() + word[1:]
        for i, word in enumerate(words)
    )


def sentence_case(text: str) -> str:
    # Capitalise the first letter of the text and of each sentence; lower-case the rest.
    return re.sub(r"(^\s*|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text.lower())


FORMATTERS = {
    "uppercase": str.upper,
    "lowercase": str.lower,
    "title": title_case,
    "sentence": sentence_case,
}


class Action:
    # Open WebUI shows one button per entry, invoked as "format_as.<id>"; __id__ says which.
    actions = [  # noqa: RUF012 - Open WebUI reads this plain class attribute
        {"id": "uppercase", "name": "UPPERCASE", "icon_url": f"{ICONS}/case-upper.svg"},
        {"id": "lowercase", "name": "lowercase", "icon_url": f"{ICONS}/case-lower.svg"},
        {"id": "title", "name": "Title Case"},
        {"id": "sentence"},
    ]

    class Valves(BaseModel):
        priority: int = Field(default=5, description="Button position among message actions (lower comes first).")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __event_emitter__=None, __id__=None):
        formatter = FORMATTERS.get(__id__)
        if formatter is None:
            choices = ", ".join(f"format_as.{name}" for name in FORMATTERS)
            raise ValueError(f"Unknown format {__id__!r}: invoke one of {choices}")
        messages = body.get("messages") or []
        if not messages:
            return None
        formatted = formatter(messages[-1].get("content") or "")
        if __event_emitter__:
            await __event_emitter__({"type": "chat:message", "data": {"content": formatted}})
        return {"format": __id__, "content": formatted}
