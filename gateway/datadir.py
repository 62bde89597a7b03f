"""The data directory's lock: one gateway at a time per ``data_dir``.

Two gateways on one data directory would each unlink the other's egress relay sockets,
collect the other's in-progress requirement installs as leftovers, and each serve a registry
the other never sees. The lock is a pid lock file (gateway.pidlock),
``<data_dir>/gateway.lock``: a gateway that crashes (even by SIGKILL) never leaves a stale
lock behind.
"""

from __future__ import annotations

from pathlib import Path

from gateway import pidlock
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
            self._fd = pidlock.lock(self.path, 0o600)
        except pidlock.Held as held:
            raise DataDirInUse(
                f"the data directory {self.data_dir} is in use by another gateway (pid {held.holder or 'unknown'}, "
                f"holding {self.path}); stop it or give this one another data_dir"
            ) from None
        except OSError as exc:
            raise AirlockError(f"cannot lock the data directory {self.data_dir}: {exc.strerror}") from None

    def release(self) -> None:
        """Give the lock up (idempotent).

        The file stays: unlinking it would let a third gateway lock a new file while a
        second one still holds the old one open.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            pidlock.unlock(fd)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None
