"""Bytecode for what workers import, compiled by the gateway ahead of time.

Workers start with ``-I -S`` and, once confined, see the runtime read-only and never write
bytecode (``sys.dont_write_bytecode``): a module without a valid ``.pyc`` would be compiled
from source in every worker. pip compiles the packages it installs; the runner, which may
be a source checkout, is compiled here when the gateway starts (timestamp-checked ``.pyc``
files, so an edited source is recompiled, never run stale).
"""

from __future__ import annotations

import compileall
import importlib.util
from pathlib import Path

import runner


def runner_dir() -> Path:
    """The directory of the runner package workers import."""
    return Path(runner.__file__).resolve().parent


def precompile(directory: Path | None = None) -> bool:
    """Compile every module under ``directory`` (default: the runner) whose bytecode is stale."""
    return bool(compileall.compile_dir(directory or runner_dir(), quiet=1))


def stale(directory: Path | None = None) -> list[Path]:
    """Modules under ``directory`` without bytecode matching their source (for checks)."""
    out: list[Path] = []
    for source in sorted((directory or runner_dir()).rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            header = cached.read_bytes()[:16]
        except OSError:
            out.append(source)
            continue
        info = source.stat()
        mtime = int(info.st_mtime).to_bytes(4, "little")
        size = (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or header[8:12] != mtime or header[12:16] != size:
            out.append(source)
    return out
