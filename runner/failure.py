"""Turn a plugin's exception into result data (runs in the sandbox).

Errors in plugin code are data, not Airlock errors. The traceback keeps only frames of the
plugin's own source, so it shows the author their code and never a path of the runtime.
"""

from __future__ import annotations

import traceback
from typing import Any


def describe(exc: BaseException, filename: str) -> dict[str, Any]:
    """The ``result`` frame fields for ``exc`` raised by the plugin in ``filename``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "error": str(exc) or type(exc).__name__,
        "traceback": "".join(lines) if frames else "",
    }
