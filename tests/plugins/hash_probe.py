"""
title: Hash probe
description: reports the interpreter's string-hash secret as seen through hash()
"""

import os


class Action:
    async def action(self, body):
        # A str built at run time: its hash is computed now, with this interpreter's secret.
        word = "".join(["air", "lock"])
        return {"hash": hash(word), "pid": os.getpid()}
