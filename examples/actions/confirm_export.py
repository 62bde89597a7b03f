"""
title: Export Chat
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 2.0.0
description: Asks for confirmation, then exports the conversation up to this message as a Markdown or JSON file.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/download.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import base64
import json
from typing import Literal

from pydantic import BaseModel, Field

MIME_TYPES = {"markdown": "text/markdown", "json": "application/json"}
EXTENSIONS = {"markdown": "md", "json": "json"}


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=20, description="Button position among message actions (lower comes first).")
        format: Literal["markdown", "json"] = Field(default="markdown", description="File format of the export.")
        include_system: bool = Field(default=False, description="Include system prompts in the export.")

    def __init__(self):
        self.valves = self.Valves()

    def render(self, messages: list, model: str) -> str:
        if self.valves.format == "json":
            return json.dumps({"model": model, "messages": messages}, indent=2, ensure_ascii=False)
        lines = [f"# Chat export ({model})", ""]
        for message in messages:
            lines += [f"## {message['role'].capitalize()}", "", str(message.get("content", "")), ""]
        return "\n".join(lines)

    async def action(self, body: dict, __user__=None, __event_emitter__=None, __event_call__=None):
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content", "")}
            for m in body.get("messages") or []
            if self.valves.include_system or m.get("role") != "system"
        ]
        chat_id = body.get("chat_id") or "chat"
        count = f"{len(messages)} message{'' if len(messages) == 1 else 's'}"
        label = "Markdown" if self.valves.format == "markdown" else "JSON"

        confirmed = await __event_call__(
            {
                "type": "confirmation",
                "data": {
                    "title": "Export chat?",
                    "message": f"Export {count} as a {label} file?",
                },
            }
        )
        # A timed-out call returns {"error": ...}, which is truthy: only True means yes.
        if confirmed is not True:
            await __event_emitter__(
                {"type": "notification", "data": {"type": "warning", "content": "Export cancelled."}}
            )
            return {"exported": False}

        await __event_emitter__({"type": "status", "data": {"description": "Preparing export…", "done": False}})
        content = self.render(messages, body.get("model") or "unknown model")
        data = content.encode("utf-8")
        filename = f"chat-{chat_id}.{EXTENSIONS[self.valves.format]}"
        mime_type = MIME_TYPES[self.valves.format]
        await __event_emitter__({"type": "status", "data": {"description": "Export ready", "done": True}})
        await __event_emitter__(
            {
                "type": "notification",
                "data": {"type": "success", "content": f"Exported {count} to {filename}"},
            }
        )
        return {
            "exported": True,
            "filename": filename,
            "mime_type": mime_type,
            "size_bytes": len(data),
            "data_url": f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}",
        }
