"""
title: Silent
description: a synchronous action that emits nothing and returns None
"""


class Action:
    def action(self, body):
        return None
