"""The shared wheel cache: every wheel an installer downloaded, by its SHA-256, ``sha256/<hex>/<file>``.

Runtime builds and requirement sets share it, so a wheel is downloaded once per gateway (or
per host, when gateways share ``wheel_cache_dir``). Installers see it read-only and take a
cached wheel only in pip's hash-checking mode, for the hash the lock or the index gave
(runner.install). Only the gateway writes it: after an installer succeeded, it takes each
file the installer downloaded into its staging directory, hashes the bytes itself and files
it under that hash. A file is never trusted for its name: what a wrong or hostile file can
achieve is to sit under its own hash, which no lock and no index asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("airlock.wheels")

#: Where an installer's downloads are, relative to its staging directory (runner.install.DOWNLOADS).
DOWNLOADS = ".downloads"
#: A wheel's file name (PEP 427): nothing that could be a path or hidden.
_WHEEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+!-]{0,254}\.whl$")
#: Larger files are not cached (no wheel an installer may unpack is this large).
MAX_WHEEL_BYTES = 4 * 1024 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Ingested:
    """What one ingest did: wheels newly cached, and files left out (with why)."""

    added: tuple[str, ...]
    skipped: tuple[str, ...]


class WheelCache:
    """The cache directory ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        """Create the directory, readable (not writable) by the installers' uids."""
        (self.root / "sha256").mkdir(mode=0o755, parents=True, exist_ok=True)
        for leftover in self.root.glob(".tmp-*"):  # a copy a crash interrupted
            leftover.unlink(missing_ok=True)
        os.chmod(self.root, 0o755)  # noqa: S103 - installers read it; only the gateway writes
        os.chmod(self.root / "sha256", 0o755)  # noqa: S103

    def path(self, digest: str) -> Path:
        """The directory of the wheel with SHA-256 ``digest``."""
        return self.root / "sha256" / digest

    def ingest(self, staging: Path) -> Ingested:
        """Move the wheels an installer downloaded into ``staging`` into the cache; remove the rest."""
        downloads = staging / DOWNLOADS
        added: list[str] = []
        skipped: list[str] = []
        try:
            entries = list(os.scandir(downloads))
        except FileNotFoundError:
            return Ingested((), ())
        try:
            for entry in entries:
                reason = self._take(entry)
                if reason is None:
                    added.append(entry.name)
                elif reason:
                    skipped.append(f"{entry.name[:80]}: {reason}")
        finally:
            # Whatever was not taken goes: the published directory holds installed packages only.
            shutil.rmtree(downloads, ignore_errors=True)
        if skipped:
            log.warning("wheel_cache_skipped", files=skipped)
        return Ingested(tuple(sorted(added)), tuple(skipped))

    def _take(self, entry: os.DirEntry[str]) -> str | None:
        """Cache one downloaded file: None when added, "" when already cached, else why not."""
        if not _WHEEL.match(entry.name):
            return "not a wheel's file name"
        try:
            # O_NOFOLLOW and the fstat below: a symlink or a special file the installer left
            # is never followed or read.
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            return f"cannot open: {exc.strerror}"
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return "not a regular file"
            if info.st_size > MAX_WHEEL_BYTES:
                return "too large"
            # Hashed while copied, in one pass: what is filed under the hash is exactly the
            # bytes that were hashed, whatever happens to the installer's file meanwhile.
            temporary = self.root / f".tmp-{uuid.uuid4().hex}"
            try:
                sha = hashlib.sha256()
                with open(temporary, "xb") as out:
                    while chunk := file.read(_CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                directory = self.path(sha.hexdigest())
                target = directory / entry.name
                if target.exists():
                    temporary.unlink()
                    return ""
                directory.mkdir(mode=0o755, exist_ok=True)
                os.chmod(temporary, 0o444)
                os.rename(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
        return None
