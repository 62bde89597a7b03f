"""Airlock's stand-in for Open WebUI's server package (runs in the sandbox).

Plugins import Open WebUI internals at module level (``from open_webui.models.users import
Users``). The server's database, models and HTTP clients do not exist inside a sandbox, so
this package provides the few internals plugins actually use, each either pure (message
helpers, the non-secret constants of ``env`` and ``config``) or proxied to the host over
the invocation's stream (runner.host). Any other ``open_webui.*`` module fails to import
with a message that says so, instead of a bare ``No module named ...``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: What exists here; everything else under open_webui is refused with this list.
PROVIDED = (
    "open_webui.utils.chat (generate_chat_completion)",
    "open_webui.models.users (Users, UserModel)",
    "open_webui.models.chats (Chats, ChatModel)",
    "open_webui.models.files (Files, FileModel)",
    "open_webui.models.models (Models, ModelModel, ModelForm, ModelMeta, ModelParams)",
    "open_webui.utils.misc (message helpers)",
    "open_webui.env and open_webui.config (VERSION, WEBUI_NAME and other non-secret constants)",
)


class _Refuse(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: an ``open_webui`` module nobody found gets a clear error."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith("open_webui."):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: this plugin runs in Airlock's sandbox, where only these "
                f"Open WebUI internals exist: {'; '.join(PROVIDED)} (see Airlock's docs/COMPATIBILITY.md)",
                name=fullname,
            )
        return None


if not any(isinstance(finder, _Refuse) for finder in sys.meta_path):
    sys.meta_path.append(_Refuse())
