"""Keep paths of the gateway's host out of messages returned to the host platform."""

from __future__ import annotations

import sys
import sysconfig
from functools import cache

from runner import boot


@cache
def host_paths(imports: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """(path, replacement) pairs, longest first so nested paths are replaced whole.

    ``imports`` are the directories the sandbox imported from (its runtime's, under the
    gateway's data directory): they appear in every traceback through a package.
    """
    runtime = {*boot.runtime_path(), *imports, sysconfig.get_paths()["stdlib"], sys.prefix, sys.base_prefix}
    pairs = [(p, "<runtime>") for p in runtime if p and p != "/"]
    return tuple(sorted(pairs, key=lambda pair: len(pair[0]), reverse=True))


def apply(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each host path replaced."""
    for path, replacement in pairs:
        text = text.replace(path, replacement)
    return text
