"""
title: Export to Word
author: community-style
version: 0.5
description: Writes the conversation to a .docx document.
"""

# Imitates: community "export chat to Word" actions that `import docx` (python-docx, an
# Open WebUI dependency) without declaring it; they save to a temporary file, then read it
# back to hand it to the browser as base64.

import base64
import os
import tempfile

from docx import Document


class Action:
    async def action(self, body: dict, __event_emitter__=None) -> dict:
        document = Document()
        document.add_heading("Conversation", level=1)
        for message in body["messages"]:
            paragraph = document.add_paragraph()
            paragraph.add_run(f"{message['role']}: ").bold = True
            paragraph.add_run(message["content"])
        path = os.path.join(tempfile.gettempdir(), f"chat-{body.get('chat_id', 'export')}.docx")
        document.save(path)
        with open(path, "rb") as saved:
            data = saved.read()
        reread = Document(path)
        os.remove(path)
        encoded = base64.b64encode(data).decode()
        if __event_emitter__:
            await __event_emitter__(
                {"type": "status", "data": {"description": f"Exported {len(data)} bytes", "done": True}}
            )
        return {
            "path": path,
            "paragraphs": len(reread.paragraphs),
            "texts": [p.text for p in reread.paragraphs],
            "base64_chars": len(encoded),
            "zip": data[:2].decode(),
        }
