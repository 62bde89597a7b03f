"""
title: Sdist Requirement
author: community-style
version: 0.1
requirements: airlock-sdist-only
"""

# Imitates: a community plugin declaring a package that is published only as a source
# distribution (no wheel). `airlock-sdist-only` is served by tests/pkgindex.py as an sdist.

import airlock_sdist_only


class Action:
    async def action(self, body: dict) -> dict:
        return {"source": airlock_sdist_only.SOURCE}
