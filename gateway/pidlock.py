"""Pid lock files: an ``flock``-ed file that holds its holder's pid.

The kernel drops an ``flock`` when its holder's descriptor is closed, so a process that
crashes (even by SIGKILL) never leaves a stale lock, and nothing has to decide whether a
recorded pid still runs: the pid is there only to name the holder in a refusal. ``flock``,
not ``fcntl`` record locks: those are per process, so a second holder in the same process
(two gateways in one test run or embedding host) would be let in.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path


class Held(Exception):
    """Another holder has the lock; ``holder`` is the pid written in the file (or "")."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"held by pid {holder or 'unknown'}")
        self.holder = holder


def lock(path: Path, mode: int) -> int:
    """Create or open ``path``, lock it and write this process's pid; its descriptor.

    Raises Held when another holder has it, OSError when the file cannot be used. O_CLOEXEC:
    a spawned process must never inherit the lock and keep it after its holder is gone.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        if not try_flock(fd):
            raise Held(holder(fd))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


def try_flock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` if nobody has it; False if somebody does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def holder(fd: int) -> str:
    """The pid written in the locked file, or "" (the holder may not have written it yet)."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text.isdigit():
            return text
    return ""


def unlock(fd: int) -> None:
    """Empty the file and close it, which drops the lock (the file stays, see DataDirLock.release)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    os.close(fd)
