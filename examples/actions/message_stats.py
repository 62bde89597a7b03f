"""
title: Message Stats
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.2.0
description: Word, sentence and character counts for the clicked message, with its most frequent words.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/chart-column.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import re
from collections import Counter

from pydantic import BaseModel, Field

WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")  # keeps contractions like "don't" whole
SENTENCE_END = re.compile(r"[.!?]+")
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i", "in", "is", "it"}
    | {"its", "of", "on", "or", "so", "that", "the", "this", "to", "was", "were", "will", "with", "you", "your"}
)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def message_text(message: dict) -> str:
    """The text of a chat message; multimodal content is a list of parts."""
    content = message.get("content") or ""
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return str(content)


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="Button position among message actions (lower comes first).")
        top_words: int = Field(default=3, ge=0, le=20, description="How many frequent words to list.")
        ignore_stopwords: bool = Field(default=True, description="Leave words like 'the' out of the top list.")

    def __init__(self):
        self.valves = self.Valves()

    def stats(self, text: str) -> dict:
        words = WORD.findall(text)
        lowered = [w.lower() for w in words]
        candidates = [w for w in lowered if not (self.valves.ignore_stopwords and w in STOPWORDS)]
        sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        return {
            "characters": len(text),
            "characters_no_spaces": len(re.sub(r"\s", "", text)),
            "words": len(words),
            "unique_words": len(set(lowered)),
            "sentences": len(sentences),
            "paragraphs": len(paragraphs),
            "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0.0,
            "top_words": Counter(candidates).most_common(self.valves.top_words),
        }

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __event_call__=None):
        async def emit(event_type: str, data: dict) -> None:
            if __event_emitter__:
                await __event_emitter__({"type": event_type, "data": data})

        messages = body.get("messages") or []
        if not messages:
            await emit("status", {"description": "No message to count", "done": True, "hidden": False})
            return None

        await emit("status", {"description": "Counting words…", "done": False, "hidden": False})
        stats = self.stats(message_text(messages[-1]))

        top = ", ".join(f"{word} ({count})" for word, count in stats["top_words"]) or "n/a"
        report = (
            f"**Words:** {stats['words']} ({stats['unique_words']} unique)\n"
            f"**Characters:** {stats['characters']} ({stats['characters_no_spaces']} without spaces)\n"
            f"**Sentences:** {stats['sentences']} · **Paragraphs:** {stats['paragraphs']}\n"
            f"**Average word length:** {stats['average_word_length']}\n"
            f"**Most frequent:** {top}"
        )
        await emit(
            "citation",
            {
                "document": [report],
                "metadata": [{"source": "Message Stats", "message_id": body.get("id")}],
                "source": {"name": "Message Stats"},
            },
        )
        await emit(
            "status",
            {
                "description": f"{plural(stats['words'], 'word')}, {plural(stats['sentences'], 'sentence')}",
                "done": True,
                "hidden": False,
            },
        )
        return stats
