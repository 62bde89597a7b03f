"""
title: My Action
author: Your Name
version: 0.1.0
description: A description of the action.
requirements: [List of dependencies, e.g., jinja2]
"""

# Imitates: a plugin published with a template's placeholder frontmatter left in; the
# `requirements` value is prose, not a package list (upstream hands "[List of dependencies",
# "e.g." and "jinja2]" to pip, which fails).


class Action:
    async def action(self, body: dict) -> dict:
        return {"ran": True}
