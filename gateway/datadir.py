"""The data directory's lock: one gateway at a time per ``data_dir``.

Two gateways on one data directory would each unlink the other's egress relay sockets,
collect the other's in-progress requirement installs as leftovers, and each serve a registry
the other never sees. The lock is an ``flock`` on ``<data_dir>/gateway.lock``: the kernel
drops it when its holder's file is closed, so a gateway that crashes (even by SIGKILL) never
leaves a stale lock behind, and nothing has to decide whether a recorded pid is still alive.
The file holds the holder's pid, only to name it in the refusal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from gateway.errors import AirlockError

LOCK_FILE = "gateway.lock"


class DataDirInUse(AirlockError):
    """Another gateway holds the data directory."""


class DataDirLock:
    """An exclusive hold on one data directory, from :meth:`acquire` until :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; DataDirInUse naming the holder's pid if another gateway has it."""
        try:
            # 0700 like the registry: the directory holds sources and valves (API keys).
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_CLOEXEC: a spawned process must never inherit the lock and keep it alive
            # after the gateway has gone.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise AirlockError(f"cannot lock the data directory {self.data_dir}: {exc.strerror}") from None
        try:
            # flock, not fcntl record locks: those are per process, so a second Gateway in
            # the same process (tests, embedding) would be let in.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise DataDirInUse(
                    f"the data directory {self.data_dir} is in use by another gateway (pid {holder}, "
                    f"holding {self.path}); stop it or give this one another data_dir"
                ) from None
            raise AirlockError(f"cannot lock the data directory {self.data_dir}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (idempotent).

        The file stays: unlinking it would let a third gateway lock a new file while a
        second one still holds the old one open.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None


def _holder(fd: int) -> str:
    """The pid written in the lock file, or "unknown" (the holder may not have written it yet)."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text.isdigit():
            return text
    return "unknown"
