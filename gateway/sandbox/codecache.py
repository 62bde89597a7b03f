"""Compiled module code of registered functions, so a worker does not re-parse the source.

Keyed by function id and the source's sha256 (the code object carries the function's display
name, so the id is part of the key). Entries are the base64 ``marshal`` bytes a worker
produced before running any plugin code (see runner.loader); the gateway never decodes them,
it only passes them on to later workers of the same function and source. Bounded in total
size, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict

#: Total size of the cached code (base64 characters) a gateway keeps.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

Key = tuple[str, str]


class CodeCache:
    """A size-bounded LRU of encoded code objects."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, str] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, function_id: str, sha256: str) -> str | None:
        """The encoded code for this function's source, if cached."""
        key = (function_id, sha256)
        code = self._entries.get(key)
        if code is not None:
            self._entries.move_to_end(key)
        return code

    def discard(self, function_id: str, sha256: str) -> None:
        """Forget the code of this function's source, if cached."""
        code = self._entries.pop((function_id, sha256), None)
        if code is not None:
            self._size -= len(code)

    def put(self, function_id: str, sha256: str, code: str) -> None:
        """Remember ``code``; entries larger than the whole cache are not kept."""
        if len(code) > self.max_bytes:
            return
        key = (function_id, sha256)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._size -= len(previous)
        self._entries[key] = code
        self._size += len(code)
        while self._size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)
