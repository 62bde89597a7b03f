"""
title: Host calls
"""

import asyncio
import time

from open_webui.models.chats import Chats
from open_webui.models.files import Files
from open_webui.models.users import Users
from open_webui.utils.chat import generate_chat_completion


def describe(exc):
    return {"raised": type(exc).__name__, "message": str(exc)}


class Action:
    async def action(self, body, __user__, __request__, __event_emitter__):
        mode = body["mode"]
        try:
            if mode == "user":
                user = await Users.get_user_by_id(body["id"])
                return None if user is None else {"type": type(user).__name__, "user": user.model_dump(mode="json")}
            if mode == "chat":
                chat = await Chats.get_chat_by_id(body["id"])
                return None if chat is None else {"title": chat.title, "messages": chat.chat.get("messages")}
            if mode == "file":
                file = await Files.get_file_by_id(body["id"])
                return None if file is None else {"filename": file.filename, "content": file.data["content"]}
            if mode == "complete":
                user = await Users.get_user_by_id(__user__["id"])
                form = {"model": "m", "messages": [{"role": "user", "content": body["prompt"]}], "stream": False}
                return await generate_chat_completion(__request__, form, user)
            if mode == "stream":
                form = {"model": "m", "messages": [], "stream": True}
                response = await generate_chat_completion(__request__, form, __user__)
                lines = []
                async for chunk in response.body_iterator:
                    lines.append(chunk.decode())
                    await __event_emitter__({"type": "status", "data": {"description": f"chunk {len(lines)}"}})
                return {"type": type(response).__name__, "media_type": response.media_type, "lines": lines}
            if mode == "stream_break":
                form = {"model": "m", "messages": [], "stream": True}
                response = await generate_chat_completion(__request__, form, __user__)
                async for chunk in response.body_iterator:
                    return chunk.decode()
            if mode == "sync_user":
                # Open WebUI 0.12's Users is async; code written for older releases forgets await.
                user = Users.get_user_by_id(__user__["id"])
                return await generate_chat_completion(__request__, {"model": "m", "messages": []}, user)
            if mode == "gave_up":
                try:
                    await asyncio.wait_for(Users.get_user_by_id("slow"), 0.2)
                except asyncio.TimeoutError:
                    pass
                return "gave up"
            if mode == "forge":
                # Skip the stand-in's own check and ask the gateway directly.
                from runner import host

                replies = []
                loop = asyncio.get_running_loop()
                done = loop.create_future()
                host._channel.host_request(
                    body["method"], {"id": "c1"}, False, lambda r: loop.call_soon_threadsafe(done.set_result, r)
                )
                replies.append(await done)
                return replies
            if mode == "busy":
                started = time.monotonic()
                user = await Users.get_user_by_id(body["id"])
                return {"waited": time.monotonic() - started, "found": user is not None}
        except Exception as exc:
            return describe(exc)
        raise ValueError(mode)
