"""``open_webui.env`` stand-in: the server's non-secret constants (runs in the sandbox).

Upstream computes these from the server's environment. A sandbox's environment is empty,
so each value here is the one upstream 0.12.4 computes from an empty environment: its
defaults, never the host server's settings (a custom ``WEBUI_NAME`` does not show here).
One exception: ``DATA_DIR`` names a directory inside the sandbox's private ``/tmp``,
since the server's data directory is not visible; what a plugin writes there is gone
when its invocation ends.

Every other upper-case name of upstream's module (``WEBUI_SECRET_KEY``, ``DATABASE_URL``,
API keys, ...) raises ``ImportError`` saying why (open_webui._withheld).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._withheld import refusal

VERSION = "0.12.4"
ENV = "dev"

WEBUI_NAME = "Open WebUI"
WEBUI_FAVICON_URL = "https://openwebui.com/favicon.png"
WEBUI_BUILD_HASH = "dev-build"
WEBUI_AUTH = True
OFFLINE_MODE = False

GLOBAL_LOG_LEVEL = "INFO"
#: Empty upstream too since 0.6 (kept there for old plugins): ``SRC_LOG_LEVELS["MAIN"]``
#: raises KeyError in both, ``SRC_LOG_LEVELS.get("MAIN", logging.INFO)`` works in both.
SRC_LOG_LEVELS: dict[str, Any] = {}
LOG_FORMAT = ""

#: Inside the sandbox's private /tmp (the server's is not visible); not created here, as upstream's is not.
DATA_DIR = Path("/tmp/open_webui_data")

BYPASS_MODEL_ACCESS_CONTROL = False
ENABLE_REALTIME_CHAT_SAVE = False
MODELS_CACHE_TTL = 1

AIOHTTP_CLIENT_TIMEOUT = None
AIOHTTP_CLIENT_SESSION_SSL = True
REQUESTS_VERIFY = True

ENABLE_FORWARD_USER_INFO_HEADERS = False
FORWARD_USER_INFO_HEADER_USER_NAME = "X-OpenWebUI-User-Name"
FORWARD_USER_INFO_HEADER_USER_ID = "X-OpenWebUI-User-Id"
FORWARD_USER_INFO_HEADER_USER_EMAIL = "X-OpenWebUI-User-Email"
FORWARD_USER_INFO_HEADER_USER_ROLE = "X-OpenWebUI-User-Role"
FORWARD_USER_INFO_HEADER_AUTH_TYPE = "X-OpenWebUI-Auth-Type"
FORWARD_SESSION_INFO_HEADER_MESSAGE_ID = "X-OpenWebUI-Message-Id"
FORWARD_SESSION_INFO_HEADER_CHAT_ID = "X-OpenWebUI-Chat-Id"

#: What this module provides (listed in every refusal): its upper-case names.
__all__ = [name for name in dict(globals()) if name.isupper()]

__getattr__ = refusal(__name__, __all__)
