"""``open_webui.config`` stand-in: the server's non-secret settings (runs in the sandbox).

In 0.12.4 these are plain values (no ``PersistentConfig``, so no ``.value``), computed from
the environment at import; here, as in ``open_webui.env`` (which this re-exports as
upstream's module does), they are upstream's values for an empty environment, and the
directories lie in the sandbox's private ``/tmp``. Every other upper-case name
(``OPENAI_API_KEYS``, ``OAUTH_CLIENT_SECRET``, ...) raises ``ImportError`` saying why.
"""

from __future__ import annotations

import contextlib

from . import env as _env
from ._withheld import refusal

# Upstream's config imports these from env, so plugins import them from either module.
DATA_DIR = _env.DATA_DIR
ENV = _env.ENV
OFFLINE_MODE = _env.OFFLINE_MODE
WEBUI_AUTH = _env.WEBUI_AUTH
WEBUI_FAVICON_URL = _env.WEBUI_FAVICON_URL
WEBUI_NAME = _env.WEBUI_NAME

WEBUI_URL = ""
DEFAULT_LOCALE = ""
DEFAULT_MODELS = None
TASK_MODEL = ""
TASK_MODEL_EXTERNAL = ""

UPLOAD_DIR = DATA_DIR / "uploads"
CACHE_DIR = DATA_DIR / "cache"
# Upstream creates both when the module is imported; a plugin may write into them at once.
# A sandbox whose /tmp cannot take them still imports (the plugin's own write then fails).
for _directory in (UPLOAD_DIR, CACHE_DIR):
    with contextlib.suppress(OSError):
        _directory.mkdir(parents=True, exist_ok=True)

#: What this module provides (listed in every refusal): its upper-case names, the re-exported included.
__all__ = [name for name in dict(globals()) if name.isupper()]

__getattr__ = refusal(__name__, __all__)
