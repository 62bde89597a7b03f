"""Load an Open WebUI function's source the way Open WebUI does (runs in the sandbox).

Mirrors ``open_webui/utils/plugin.py`` (0.12.4): frontmatter, the textual import rewrite, a
fresh module named ``function_<id>``, ``__file__`` pointing at a real file holding the
source, and the class lookup order Pipe, Filter, Action, Event.
"""

from __future__ import annotations
import __future__

import base64
import importlib.util
import linecache
import marshal
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)
# Upstream replaces these as plain substrings, anywhere in the source; so do we.
_IMPORT_REWRITES = {
    "from utils": "from open_webui.utils",
    "from apps": "from open_webui.apps",
    "from main": "from open_webui.main",
    "from config": "from open_webui.config",
}
KINDS = (("Pipe", "pipe"), ("Filter", "filter"), ("Action", "action"), ("Event", "event"))


class LoadError(Exception):
    """The source could not be loaded; the message is the plugin's own error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class LoadedFunction:
    """A loaded function: its instance, kind, frontmatter and module."""

    function_id: str
    instance: Any
    kind: str
    frontmatter: dict[str, str]
    module: types.ModuleType
    filename: str


def extract_frontmatter(source: str) -> dict[str, str]:
    """Frontmatter key/values: only when the first line is exactly ``\"\"\"``."""
    lines = source.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    frontmatter: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = _FRONTMATTER_LINE.match(line)
        if match:
            key, value = match.groups()
            frontmatter[key.strip()] = value.strip()
    return frontmatter


def replace_imports(source: str) -> str:
    """Open WebUI's rewrite of legacy import paths to ``open_webui.*``."""
    for old, new in _IMPORT_REWRITES.items():
        source = source.replace(old, new)
    return source


def display_filename(function_id: str) -> str:
    """The file name tracebacks show for a function's source (never a host path)."""
    return f"<function {function_id}>"


def _code(
    content: str,
    filename: str,
    cached: str | None,
    on_compiled: Callable[[str | None], None] | None,
    max_compiled_bytes: int,
) -> types.CodeType:
    """The module's code object: from the gateway's cache, or compiled here and offered to it.

    The cache holds ``marshal`` bytes, which only ever travel gateway → sandbox: a sandbox
    offers its compiled code *before* any of the plugin's code has run in it, so what the
    gateway caches was produced by the runner alone. The bytes carry the interpreter's
    magic number and are used only by the same runtime.
    """
    if cached:
        raw = base64.b64decode(cached)
        magic = importlib.util.MAGIC_NUMBER
        if raw.startswith(magic):
            # The gateway's own cache, filled by the runner (see above), never by a plugin.
            cached_code = marshal.loads(raw[len(magic) :])  # noqa: S302
            if isinstance(cached_code, types.CodeType) and cached_code.co_filename == filename:
                return cached_code
    # Upstream execs the source from a module with ``from __future__ import annotations``,
    # which the compiled plugin inherits: its annotations are strings there, and here.
    code: types.CodeType = compile(
        content, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True
    )
    if on_compiled is not None and cached is None:
        # Offered whenever the gateway sent no code and the source compiled (None when too
        # large): the gateway then knows that such a worker's first frame is the runner's,
        # never one a plugin forged. Code the gateway sent but this runtime cannot use is
        # simply compiled again; the gateway expects nothing then.
        encoded = base64.b64encode(importlib.util.MAGIC_NUMBER + marshal.dumps(code)).decode()
        on_compiled(encoded if len(encoded) <= max_compiled_bytes else None)
    return code


def load(
    function_id: str,
    source: str,
    workdir: Path,
    *,
    cached: str | None = None,
    on_compiled: Callable[[str | None], None] | None = None,
    max_compiled_bytes: int = 0,
) -> LoadedFunction:
    """Execute ``source`` as module ``function_<id>`` and build its plugin class.

    ``cached`` is the gateway's compiled code for exactly this source, if it has it;
    otherwise the source is compiled and ``on_compiled`` receives the encoded code (None
    when it is too large to offer), before any of the plugin's code runs.
    """
    frontmatter = extract_frontmatter(source)
    content = replace_imports(source)
    filename = display_filename(function_id)
    # Tracebacks show the plugin's own lines under its display name.
    linecache.cache[filename] = (len(content), None, content.splitlines(True), filename)
    module_name = f"function_{function_id}"
    module = types.ModuleType(module_name)
    path = workdir / f"{module_name}.py"
    path.write_text(content, encoding="utf-8")
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        code = _code(content, filename, cached, on_compiled, max_compiled_bytes)
        exec(code, module.__dict__)  # noqa: S102 - running the plugin is this process's job
        for class_name, kind in KINDS:
            cls = getattr(module, class_name, None)
            if cls is not None:
                return LoadedFunction(function_id, cls(), kind, frontmatter, module, filename)
    except BaseException as exc:
        raise LoadError(type(exc).__name__, str(exc) or type(exc).__name__) from exc
    raise LoadError("LoadError", "No Function class found in the module (expected Pipe, Filter, Action or Event)")
