"""
title: Airlock Test Model
description: a Pipe function, so that the server has a model to click actions under
"""


class Pipe:
    def pipe(self, body):
        return "echo: " + str(body.get("messages", [{}])[-1].get("content", ""))
