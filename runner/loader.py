"""Load an Open WebUI function's source the way Open WebUI does (runs in the sandbox).

Mirrors ``open_webui/utils/plugin.py`` (0.12.4): frontmatter, the textual import rewrite, a
fresh module named ``function_<id>``, ``__file__`` pointing at a real file holding the
source, and the class lookup order Pipe, Filter, Action, Event.
"""

from __future__ import annotations

import linecache
import re
import sys
import types
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


def load(function_id: str, source: str, workdir: Path) -> LoadedFunction:
    """Execute ``source`` as module ``function_<id>`` and build its plugin class."""
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
        code = compile(content, filename, "exec")
        exec(code, module.__dict__)  # noqa: S102 - running the plugin is this process's job
        for class_name, kind in KINDS:
            cls = getattr(module, class_name, None)
            if cls is not None:
                return LoadedFunction(function_id, cls(), kind, frontmatter, module, filename)
    except BaseException as exc:
        raise LoadError(type(exc).__name__, str(exc) or type(exc).__name__) from exc
    raise LoadError("LoadError", "No Function class found in the module (expected Pipe, Filter, Action or Event)")
