"""A writer of cpio archives in the "newc" format, the one the kernel unpacks as an initramfs.

Written here rather than run through cpio(1): no extra host package, entries owned by root
whoever builds the archive, a /dev/console device node without privileges, and the same bytes
for the same inputs (mtime 0, fixed inode numbers), so that the archive's hash can name it.
"""

from __future__ import annotations

import stat

_TRAILER = "TRAILER!!!"


class Archive:
    """An in-memory newc archive; add entries, then ``finish()`` for its bytes."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._inode = 0
        self._names: set[str] = set()

    def directory(self, name: str, mode: int = 0o755) -> None:
        """Add a directory (parents first: the kernel does not make missing ones)."""
        self._entry(name, stat.S_IFDIR | mode, b"")

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file; its missing parent directories are added first."""
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in self._names:
                self.directory(parent)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        """Add a symbolic link to ``target``."""
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, *, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node."""
        self._entry(name, stat.S_IFCHR | mode, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        """The archive's bytes, with its trailer; the archive takes no entries afterwards."""
        self._entry(_TRAILER, 0, b"")
        return bytes(self._data)

    def _entry(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        if name in self._names:
            return  # a directory added explicitly and again as a parent
        self._names.add(name)
        self._inode += 1
        encoded = name.encode() + b"\0"
        fields = (self._inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self._data += b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        self._pad()
        self._data += data
        self._pad()

    def _pad(self) -> None:
        self._data += b"\0" * (-len(self._data) % 4)
