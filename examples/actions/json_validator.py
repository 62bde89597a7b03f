"""
title: Validate JSON
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 1.3.0
description: Checks that the JSON in the clicked message parses and pretty-prints it. Fails loudly on invalid JSON.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/braces.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import json
import re

from pydantic import BaseModel, Field

FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def extract_json(text: str) -> str:
    """The first fenced code block, else the whole message."""
    match = FENCED.search(text)
    return (match.group(1) if match else text).strip()


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=40, description="Button position among message actions (lower comes first).")
        indent: int = Field(default=2, ge=0, le=8, description="Indentation of the pretty-printed JSON.")
        reformat: bool = Field(default=True, description="Replace the message with the pretty-printed JSON.")

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body: dict, __event_emitter__=None):
        messages = body.get("messages")
        if not messages:
            raise ValueError("body['messages'] is empty: there is no message to validate")
        source = extract_json(messages[-1].get("content") or "")
        try:
            value = json.loads(source)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            if __event_emitter__:
                await __event_emitter__(
                    {"type": "notification", "data": {"type": "error", "content": f"Invalid JSON at {where}"}}
                )
            raise ValueError(f"The message is not valid JSON: {exc.msg} ({where})") from None

        kind = TYPE_NAMES.get(type(value), "null")
        summary = f"Valid JSON: {kind}"
        if isinstance(value, dict | list):
            summary += f" with {len(value)} {'keys' if isinstance(value, dict) else 'items'}"
        if __event_emitter__:
            if self.valves.reformat:
                pretty = json.dumps(value, indent=self.valves.indent or None, ensure_ascii=False)
                await __event_emitter__({"type": "chat:message", "data": {"content": f"```json\n{pretty}\n```"}})
            await __event_emitter__({"type": "status", "data": {"description": summary, "done": True}})
        return {"valid": True, "type": kind, "keys": sorted(value) if isinstance(value, dict) else None}
