"""
title: Add Note
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.0.2
description: Asks for a short note and appends it as a quote under the clicked message.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/sticky-note.svg
required_open_webui_version: 0.5.0
license: MIT
"""

from pydantic import BaseModel, Field


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=30, description="Button position among message actions (lower comes first).")
        max_length: int = Field(default=280, ge=1, description="Notes longer than this are cut, with an ellipsis.")

    class UserValves(BaseModel):
        marker: str = Field(default="📝", description="Shown before each of your notes.")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __event_call__=None):
        async def notify(kind: str, content: str) -> None:
            await __event_emitter__({"type": "notification", "data": {"type": kind, "content": content}})

        answer = await __event_call__(
            {
                "type": "input",
                "data": {
                    "title": "Add a note",
                    "message": "The note is added under this message for everyone in the chat.",
                    "placeholder": "Write a note…",
                    "value": "",
                },
            }
        )
        # The input dialog answers False when cancelled, "" when submitted empty, and a dict
        # {"error": ...} when nobody answered in time.
        if answer is False or answer is None:
            await notify("info", "Note cancelled.")
            return {"saved": False, "reason": "cancelled"}
        if isinstance(answer, dict):
            await notify("error", f"Could not ask for a note: {answer.get('error', 'no answer')}")
            return {"saved": False, "reason": "error"}
        note = str(answer).strip()
        if not note:
            await notify("warning", "The note was empty, so nothing was added.")
            return {"saved": False, "reason": "empty"}
        if len(note) > self.valves.max_length:
            note = note[: self.valves.max_length - 1].rstrip() + "…"

        user = __user__ or {}
        marker = user["valves"].marker if "valves" in user else "📝"
        author = user.get("name") or "someone"
        await __event_emitter__({"type": "chat:message:delta", "data": {"content": f"\n\n> {marker} {author}: {note}"}})
        await notify("success", "Note added.")
        return {"saved": True, "note": note}
