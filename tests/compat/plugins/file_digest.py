"""
title: File Digest
author: community-style
version: 0.1
"""

from open_webui.models.files import Files


class Action:
    async def action(self, body, __event_emitter__=None):
        digests = []
        for attached in body.get("files", []):
            file = await Files.get_file_by_id(attached["id"])
            if file is None:
                digests.append({"id": attached["id"], "missing": True})
                continue
            content = (file.data or {}).get("content", "")
            digests.append({"id": file.id, "name": file.filename, "words": len(content.split())})
            await __event_emitter__(
                {"type": "citation", "data": {"source": {"name": file.filename}, "document": [content[:100]]}}
            )
        return digests
