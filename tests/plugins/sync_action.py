"""
title: Sync action
"""

import threading


class Action:
    def action(self, body, __id__=None):
        return {
            "sync": True,
            "thread": threading.current_thread().name,
            "id": __id__,
            "n": len(body.get("messages", [])),
        }
