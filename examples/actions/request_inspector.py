"""
title: Request Inspector
author: airlock-examples
author_url: https://github.com/airlock-examples
version: 0.4.0
description: Debugging aid for admins. Shows the HTTP request, model, user and action id this action was called with.
icon_url: https://cdn.jsdelivr.net/npm/lucide-static@0.460.0/icons/search-code.svg
required_open_webui_version: 0.5.0
license: MIT
"""

import json

from pydantic import BaseModel, Field

SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "x-auth-token"})


class Action:
    class Valves(BaseModel):
        priority: int = Field(default=100, description="Button position among message actions (debug tools go last).")
        redact: bool = Field(default=True, description="Hide secret headers and cookie values in the report.")
        post_to_chat: bool = Field(default=True, description="Also append the report to the message.")

    def __init__(self):
        self.valves = self.Valves()

    def hide(self, value: str) -> str:
        return "***" if self.valves.redact else value

    def describe_request(self, request) -> dict:
        headers = {name.lower(): value for name, value in request.headers.items()}
        client = request.client
        return {
            "method": request.method,
            "url": str(request.url),
            "headers": {k: self.hide(v) if k in SECRET_HEADERS else v for k, v in sorted(headers.items())},
            "query_params": dict(sorted(dict(request.query_params).items())),
            "cookies": {k: self.hide(v) for k, v in sorted(request.cookies.items())},
            "client": {"host": client.host, "port": client.port} if client else None,
        }

    async def action(  # noqa: PLR0917 - Open WebUI passes these by name
        self,
        body: dict,
        __user__=None,
        __event_emitter__=None,
        __event_call__=None,
        __model__=None,
        __request__=None,
        __id__=None,
    ):
        user = __user__ or {}
        model = __model__ or {}
        report = {
            "action_id": __id__,
            "chat_id": body.get("chat_id"),
            "message_id": body.get("id"),
            "model": {k: model.get(k) for k in ("id", "name", "owned_by")} if model else None,
            "user": {"id": user.get("id"), "role": user.get("role")} if user else None,
            "request": self.describe_request(__request__) if __request__ is not None else None,
        }
        text = json.dumps(report, indent=2)
        if __event_emitter__:
            await __event_emitter__(
                {
                    "type": "source",
                    "data": {
                        "source": {"name": "Request Inspector"},
                        "document": [text],
                        "metadata": [{"source": "Request Inspector", "name": "request report"}],
                    },
                }
            )
            if self.valves.post_to_chat:
                await __event_emitter__(
                    {"type": "chat:message:delta", "data": {"content": f"\n\n```json\n{text}\n```"}}
                )
        return report
