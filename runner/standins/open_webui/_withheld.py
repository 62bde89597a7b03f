"""What ``open_webui.env`` and ``open_webui.config`` answer for a constant they do not provide (runs in the sandbox).

Upstream's two modules hold the server's whole configuration: next to harmless constants
(the version, the name, log levels) its secrets (``WEBUI_SECRET_KEY``, ``DATABASE_URL``,
API keys, OAuth client secrets) and its connections. The stand-ins provide the first
kind only; any other constant-like name fails with an ``ImportError`` raised from the
module's ``__getattr__``.

Why an ImportError and not an AttributeError: ``from open_webui.env import NAME`` turns
an AttributeError from ``__getattr__`` into its own ``cannot import name ...`` and drops
the message, so the plugin's author would not learn why. The price is that
``getattr(env, NAME, default)`` raises for such a name instead of returning the default;
names that do not look like constants (lower case, dunders) keep the plain AttributeError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NoReturn

#: Names that hold (or connect with) a secret upstream: keys, tokens, passwords, the
#: database and Redis URLs (credentials included), licences. Said apart in the message.
_SECRET = re.compile(r"SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|LICENSE|DATABASE|REDIS|(?:^|_)KEYS?(?:_|$)")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
_SEE = "see Airlock's docs/COMPATIBILITY.md"


def refusal(module: str, provided: Iterable[str]) -> Callable[[str], NoReturn]:
    """A module ``__getattr__`` for ``module`` that refuses what it lacks, saying why."""
    names = ", ".join(sorted(provided))

    def __getattr__(name: str) -> NoReturn:  # noqa: N807 - the module hook's own name
        if not _CONSTANT.fullmatch(name):
            raise AttributeError(f"module {module!r} has no attribute {name!r}", name=name)
        if _SECRET.search(name):
            why = "it is one of the Open WebUI server's secrets or connections, which never enter a plugin's sandbox"
        else:
            why = "only Open WebUI's non-secret constants are provided there, with upstream's defaults"
        raise ImportError(
            f"{module}.{name} is not available in Airlock's sandbox: {why}. {module} has: {names} ({_SEE})",
            name=module,
        )

    return __getattr__
