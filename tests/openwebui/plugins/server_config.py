"""
title: Server Internals
description: reaches into Open WebUI's Socket.IO server: runs in Open WebUI, never in a sandbox
"""

from open_webui.socket.main import sio


class Action:
    async def action(self, body):
        return type(sio).__name__
