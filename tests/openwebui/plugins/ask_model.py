"""
title: Ask the model
description: asks the clicked model through Open WebUI's internals, reads the user and the chat
"""

from open_webui.models.chats import Chats
from open_webui.models.users import Users
from open_webui.utils.chat import generate_chat_completion


class Action:
    async def action(self, body, __user__, __request__):
        user = await Users.get_user_by_id(__user__["id"])
        question = [{"role": "user", "content": "what is the answer?"}]
        form = {"model": body["model"], "messages": question, "stream": False}
        answer = await generate_chat_completion(__request__, form, user)
        streamed = []
        response = await generate_chat_completion(__request__, {**form, "stream": True}, user)
        async for line in response.body_iterator:
            text = line.decode() if isinstance(line, bytes) else line
            if text.startswith("data: {"):
                import json

                delta = json.loads(text[len("data: ") :])["choices"][0]["delta"]
                if delta.get("content"):
                    streamed.append(delta["content"])
        chat = await Chats.get_chat_by_id(body["chat_id"])
        return {
            "user": user.email,
            "answer": answer["choices"][0]["message"]["content"],
            "streamed": streamed,
            "own_chat_title": None if chat is None else chat.title,
            "request_headers": sorted(__request__.headers.keys()),
        }
