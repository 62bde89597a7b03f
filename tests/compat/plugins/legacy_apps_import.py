"""
title: Legacy Apps Import
author: community-style
version: 0.0.9
"""

from apps.webui.models.users import Users  # Open WebUI < 0.5: gone upstream too


class Action:
    async def action(self, body, __user__=None):
        return Users.get_user_by_id(__user__["id"])
