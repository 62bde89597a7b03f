"""Content-addressed directories of installed requirement sets, ``<data dir>/requirements/<digest>``.

One directory per distinct set: functions whose requirements normalise to the same specs,
for the same interpreter and the same package source, share it. A set is installed into a
``.tmp-`` directory and renamed to its digest only once pip, the dependency check and the
bytecode compilation have all finished, so a crash never leaves a half-installed set that
looks ready; leftovers of one are removed at the next start.

The gateway never reads what the installer wrote: it renames the directory (an entry of a
parent the sandbox never saw), binds it read-only into sandboxes, and removes it with
``shutil.rmtree``, which does not follow symlinks (it works through directory descriptors).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import anyio
import orjson

#: Bumped when what an installed directory holds changes (its layout, the pip options).
LAYOUT_VERSION = 2  # 2: layered over a runtime (only what it lacks is in the set)
_TMP_PREFIX = ".tmp-"


def digest(specs: Iterable[str], source: dict[str, str]) -> str:
    """The content address of a set: its specs, the interpreter's ABI and the package source."""
    material = {
        "layout": LAYOUT_VERSION,
        "specs": sorted(specs),
        # Wheels and .pyc files are only valid for the interpreter (and ABI) that made them.
        "python": sys.implementation.cache_tag,
        "abi": sysconfig.get_config_var("SOABI") or "",
        "platform": sysconfig.get_platform(),
        "source": source,
    }
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Sites:
    """The ``requirements`` directory of the data directory, and one lock per digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)

    def lock(self, digest: str) -> anyio.Lock:
        """Held while a set is installed: concurrent registrations of one set install it once."""
        return self._locks[digest]

    def path(self, digest: str) -> Path:
        """Where the set ``digest`` lives once installed."""
        return self.root / digest

    def ready(self, digest: str) -> bool:
        """Whether the set is installed (only complete sets are ever renamed to their digest)."""
        return self.path(digest).is_dir()

    def new_staging(self, digest: str) -> Path:
        """A new, empty directory for the installer to write into.

        Mode 0777 so that the sandbox's uid (a different one per sandbox when the gateway is
        root) can write it; the data directory above it is 0700, so no host user can reach
        it, and the sandbox sees only this directory, bound as its ``/airlock/site``.
        """
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self.root / f"{_TMP_PREFIX}{digest}-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        os.chmod(staging, 0o777)  # noqa: S103 - see above: unreachable but through the bind
        return staging

    def publish(self, staging: Path, digest: str) -> Path:
        """Make a complete staging directory the set ``digest`` (an atomic rename)."""
        os.chmod(staging, 0o755)  # noqa: S103 - readable by every sandbox uid, writable by none
        final = self.path(digest)
        os.rename(staging, final)
        return final

    def discard(self, staging: Path) -> None:
        """Remove a staging directory (a failed or refused installation)."""
        shutil.rmtree(staging, ignore_errors=True)

    def collect(self, referenced: Iterable[str]) -> list[str]:
        """Remove staging leftovers and every set no function references; what was removed."""
        keep = set(referenced)
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for entry in self.root.iterdir():
            if entry.name.startswith(_TMP_PREFIX) or entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return sorted(removed)
