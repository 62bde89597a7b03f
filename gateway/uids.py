"""The host uids sandboxes run as: this gateway's slice of the range, and who has which uid.

A root gateway runs every sandbox as a uid of its own (mapped to uid 0 inside the sandbox's
user namespace), so that no two sandboxes, and no sandbox and the gateway, share a uid: the
kernel's per-uid checks (signals, ptrace, /proc, files in /tmp, per-user quotas) then keep
them apart. That holds across gateways only if they never hand out the same uids, so each
gateway claims a slice of the configured range (``sandbox_uid_first``,
``sandbox_uid_count``, ``sandbox_uids_per_gateway``) with an ``flock``-ed file per slice in
a host-wide directory (``sandbox_uid_lock_dir``). The kernel drops a lock with its holder,
so a crashed gateway's slice is free again without anyone deciding it is dead; claims are
made under one more lock on the directory, so two gateways starting together never pick
the same slice. Lock files name the uids they cover, not a slice number: gateways
configured with different ranges still see each other's claims.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from gateway import pidlock
from gateway.errors import AirlockError

#: Defaults of the settings: 200000 is above every distribution's regular and system users;
#: 64 gateways fit in the default range, each with room for 1024 sandboxes at once (the
#: shipped profiles need 104 at most: 2 x max_concurrent + warm_pool_size each).
SANDBOX_UID_FIRST = 200_000
SANDBOX_UID_COUNT = 65_536
SANDBOX_UIDS_PER_GATEWAY = 1_024
SANDBOX_UID_LOCK_DIR = Path("/run/airlock/uids")
#: (uid_t)-1 means "no change" to setresuid and is refused in id maps.
MAX_UID = 2**32 - 2

_CLAIM_LOCK = ".claim"
_SLICE_FILE = re.compile(r"^(\d+)-(\d+)\.lock$")


class UidsUnavailable(AirlockError):
    """No slice of the sandbox uid range can be claimed, or the range is unusable here."""


class UidsExhausted(Exception):
    """Every uid of this gateway's slice belongs to a running sandbox."""


@dataclass(frozen=True)
class UidRange:
    """``count`` consecutive uids from ``first``."""

    first: int
    count: int

    @property
    def last(self) -> int:
        """The last uid of the range."""
        return self.first + self.count - 1

    def overlaps(self, other: UidRange) -> bool:
        """Whether the two ranges share a uid."""
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class UidAllocator:
    """Hands out uids of one range, round-robin, never one a running sandbox still has."""

    def __init__(self, uids: UidRange) -> None:
        self.range = uids
        self._next = 0
        self._in_use: set[int] = set()

    def take(self) -> int:
        """A uid no running sandbox of this gateway has; UidsExhausted if there is none."""
        for _ in range(self.range.count):
            uid = self.range.first + self._next
            self._next = (self._next + 1) % self.range.count
            if uid not in self._in_use:
                self._in_use.add(uid)
                return uid
        raise UidsExhausted(f"all {self.range.count} sandbox uids of this gateway ({self.range}) are in use")

    def give_back(self, uid: int) -> None:
        """``uid``'s sandbox is gone (every process of it): the uid may be handed out again."""
        self._in_use.discard(uid)

    @property
    def in_use(self) -> frozenset[int]:
        """The uids of running sandboxes."""
        return frozenset(self._in_use)


class UidSlice:
    """A slice of the range this gateway holds (its lock file open and locked) until released."""

    def __init__(self, uids: UidRange, fd: int | None) -> None:
        self.range = uids
        self._fd = fd

    def release(self) -> None:
        """Give the slice up (idempotent); the next claim removes the unlocked file."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def check_mappable(uids: UidRange) -> None:
    """UidsUnavailable unless the gateway can map every uid of ``uids`` (and the same gids).

    A gateway in a user namespace (a user-namespaced container or pod) can only write id
    maps for ids its own namespace maps; a range beyond them would fail every sandbox start.
    The range must also stay clear of the gateway's own ids.
    """
    own = {os.getuid(), os.geteuid(), os.getgid(), os.getegid()}
    if clash := sorted(i for i in own if uids.first <= i <= uids.last):
        raise UidsUnavailable(f"the sandbox uid range {uids} holds the gateway's own id {clash[0]}")
    for kind in ("uid", "gid"):
        mapped = _mapped(Path(f"/proc/self/{kind}_map").read_text())
        if not any(m.first <= uids.first and uids.last <= m.last for m in mapped):
            shown = ", ".join(str(m) for m in mapped) or "none"
            raise UidsUnavailable(
                f"the sandbox uid range {uids} is not within the {kind}s this gateway's user namespace maps "
                f"({shown}); set sandbox_uid_first and sandbox_uid_count inside them"
            )


def _mapped(id_map: str) -> list[UidRange]:
    """The ids (as seen by this process) that a ``/proc/<pid>/{uid,gid}_map`` maps."""
    ranges = []
    for line in id_map.splitlines():
        if fields := line.split():
            ranges.append(UidRange(int(fields[0]), int(fields[2])))
    return ranges


def claim_slice(lock_dir: Path, uids: UidRange, per_gateway: int) -> UidSlice:
    """Claim the first free slice of ``per_gateway`` uids of ``uids``; UidsUnavailable if none is."""
    _own_directory(lock_dir)
    guard = os.open(lock_dir / _CLAIM_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)  # claims are short: wait for another gateway's
        held = _held_slices(lock_dir)
        for index in range(uids.count // per_gateway):
            candidate = UidRange(uids.first + index * per_gateway, per_gateway)
            if not any(candidate.overlaps(other) for other in held):
                return UidSlice(candidate, _lock_slice(lock_dir, candidate))
    finally:
        os.close(guard)
    holders = ", ".join(f"{r} (pid {pid})" for r, pid in held.items() if r.overlaps(uids))
    raise UidsUnavailable(
        f"every slice of {per_gateway} sandbox uids in {uids} is taken by other gateways on this host "
        f"({holders}; lock files in {lock_dir}): stop one, or give this gateway another sandbox_uid_first"
    )


def _own_directory(lock_dir: Path) -> None:
    # Anyone who could write here could hold every slice (a denial of service) or swap a
    # lock file for a link: the directory must be the gateway's alone.
    try:
        lock_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = lock_dir.lstat()
    except OSError as exc:
        raise UidsUnavailable(f"cannot use sandbox_uid_lock_dir {lock_dir}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise UidsUnavailable(
            f"sandbox_uid_lock_dir {lock_dir} must be a directory owned by the gateway's user and "
            "writable by nobody else"
        )
    # The lock files are opened by path: whoever may rename an ancestor could swap in a
    # directory of their own after the check above. An ancestor is safe when it belongs to
    # root or the gateway's user and nobody else may write to it, or only with the sticky bit
    # (like /tmp: entries there are renamed only by their owners).
    for ancestor in lock_dir.absolute().parents:
        try:
            parent = ancestor.stat()
        except OSError as exc:
            raise UidsUnavailable(f"cannot use sandbox_uid_lock_dir {lock_dir}: {ancestor}: {exc.strerror}") from None
        open_to_others = parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX
        if parent.st_uid not in (0, os.geteuid()) or open_to_others:
            raise UidsUnavailable(
                f"sandbox_uid_lock_dir {lock_dir} lies in {ancestor}, which another user owns or may "
                "rename entries of: put it where only root or the gateway's user can"
            )


def _held_slices(lock_dir: Path) -> dict[UidRange, str]:
    """Slices other gateways hold (by the pid in their file); unlocked files are removed."""
    held: dict[UidRange, str] = {}
    for entry in os.listdir(lock_dir):
        match = _SLICE_FILE.match(entry)
        if match is None:
            continue
        first, last = int(match[1]), int(match[2])
        try:
            fd = os.open(lock_dir / entry, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if pidlock.try_flock(fd):
                # Its gateway is gone (every claim happens under the guard we hold, so an
                # unlocked file is nobody's).
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock_dir / entry)
            else:
                held[UidRange(first, last - first + 1)] = pidlock.holder(fd) or "?"
        finally:
            os.close(fd)
    return held


def _lock_slice(lock_dir: Path, uids: UidRange) -> int:
    return pidlock.lock(lock_dir / f"{uids}.lock", 0o644)
