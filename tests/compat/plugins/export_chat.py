"""
title: Export Chat
author: community-style
version: 0.2
description: Downloads the whole chat as Markdown through the browser.
"""

import base64
import json

from open_webui.models.chats import Chats


class Action:
    async def action(self, body, __user__=None, __event_emitter__=None, __event_call__=None):
        chat = await Chats.get_chat_by_id(body["chat_id"])
        if chat is None:
            await __event_emitter__({"type": "notification", "data": {"type": "error", "content": "Chat not found"}})
            return
        if chat.user_id != __user__["id"]:
            raise PermissionError("not your chat")
        lines = [f"# {chat.title}", ""]
        for message in chat.chat.get("messages", []):
            lines.append(f"**{message['role']}**: {message['content']}")
        markdown = "\n".join(lines)
        ok = await __event_call__(
            {"type": "confirmation", "data": {"title": "Export", "message": f"Download {chat.title}.md?"}}
        )
        if not ok:
            return {"exported": False}
        encoded = base64.b64encode(markdown.encode()).decode()
        script = (
            "const a = document.createElement('a');"
            f"a.href = 'data:text/markdown;base64,{encoded}';"
            f"a.download = {json.dumps(chat.title + '.md')};"
            "a.click(); return a.download;"
        )
        downloaded = await __event_call__({"type": "execute", "data": {"code": script}})
        await __event_emitter__({"type": "status", "data": {"description": f"Saved {downloaded}", "done": True}})
        return {"exported": True, "bytes": len(markdown)}
