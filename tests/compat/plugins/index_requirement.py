"""
title: Index Requirement
author: community-style
version: 1.0.0
description: Uses a package it declares, installed from the package index.
requirements: airlock-demo-index
"""

# Imitates: community plugins that declare a PyPI package in `requirements` and import it
# at the top. `airlock-demo-index` is served by the tests' own index (tests/pkgindex.py):
# version 1.0 depends on `airlock-index-leaf`.

import airlock_demo_index


class Action:
    async def action(self, body: dict) -> dict:
        return {
            "origin": airlock_demo_index.ORIGIN,
            "leaf": airlock_demo_index.LEAF,
            "file": airlock_demo_index.__file__,
        }
