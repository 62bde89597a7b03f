"""The worker's command line (runs in the gateway, builds what runs in the sandbox).

Workers start as ``python -I -S -c BOOTSTRAP CONFIG``: ``-I`` ignores the environment and the
user site, ``-S`` skips ``site`` (a ``.pth`` file costs ~55 ms per start), so the runtime's
import path is given explicitly in CONFIG instead.
"""

from __future__ import annotations

import sys
import sysconfig
from functools import cache
from pathlib import Path
from typing import Any

import orjson

BOOTSTRAP = "import sys,json;c=json.loads(sys.argv[1]);sys.path[:0]=c['path'];import runner.{0};runner.{0}.main(c)"


def runner_root() -> str:
    """The directory holding the ``runner`` package (only ``runner`` itself is bound there)."""
    return str(Path(__file__).resolve().parent.parent)


@cache
def runtime_path() -> tuple[str, ...]:
    """The gateway's own import path: the one holding ``runner``, then its site-packages.

    For the gateway's own subprocesses (host probes); sandboxes of plugins import from their
    profile's runtime instead.
    """
    paths = [runner_root()]
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in paths:
            paths.append(path)
    return tuple(paths)


def command(config: dict[str, Any], python: str | None = None, *, entry: str = "main") -> list[str]:
    """The argv that starts a worker (``entry`` main) or a zygote (``entry`` zygote)."""
    bootstrap = BOOTSTRAP.format(entry)
    return [python or sys.executable, "-I", "-S", "-c", bootstrap, orjson.dumps(config).decode()]
