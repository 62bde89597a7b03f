"""One relay per egress profile, started when the profile's first sandbox is.

Each relay listens on ``<data_dir>/egress/<profile>-<digest>/relay.sock``; the directory
is what sandboxes get mounted (read-only) at /run/airlock. The gateway creates and binds
everything itself, in directories only it can write (``egress/`` is 0700; each relay's
directory 0711, its socket 0666, so that a sandbox's own uid can connect through the
mount while no other host user can even reach the path): the gateway never opens a path
a sandbox could write. Profiles built in code (a ``Profile`` with ``network="egress"``)
get a relay the same way; the digest of their egress settings keeps two profiles of the
same name but different allow-lists apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from pathlib import Path

import orjson

from gateway.background import Background
from gateway.egress.plan import RELAY_SOCKET
from gateway.egress.relay import EgressRelay
from gateway.metrics.families import Metrics
from gateway.profiles import Profile

_EGRESS_FIELDS = (
    "egress_allow",
    "egress_allow_private",
    "egress_connect_timeout_seconds",
    "egress_max_connections",
)


def relay_key(profile: Profile) -> str:
    """The relay directory's name for ``profile``: its name and a digest of its egress settings."""
    settings = orjson.dumps({name: getattr(profile, name) for name in _EGRESS_FIELDS})
    return f"{profile.name or 'unnamed'}-{hashlib.sha256(settings).hexdigest()[:12]}"


class EgressRelays:
    """The running relays of one gateway, by relay key."""

    def __init__(self, directory: Path, *, background: Background, metrics: Metrics | None = None) -> None:
        self.directory = directory
        #: Where the relays serve their connections.
        self._background = background
        #: TCP ports the gateway itself listens on: never a relay's destination on this host.
        self.own_ports: set[int] = set()
        self._metrics = metrics
        self._relays: dict[str, tuple[EgressRelay, Path]] = {}
        self._lock = asyncio.Lock()

    async def ensure(self, profile: Profile) -> Path:
        """The host directory holding ``profile``'s relay socket, its relay started if needed."""
        key = relay_key(profile)
        async with self._lock:
            if key not in self._relays:
                directory = self.directory / key
                listener = self._bind(directory)
                relay = EgressRelay(
                    profile, own_ports=lambda: self.own_ports, metrics=self._metrics, background=self._background
                )
                try:
                    await relay.serve(listener)
                except BaseException:
                    listener.close()
                    raise
                self._relays[key] = (relay, directory)
            return self._relays[key][1]

    def _bind(self, directory: Path) -> socket.socket:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        directory.mkdir(mode=0o711, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o711)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(RELAY_SOCKET, dir_fd=fd)  # left by an earlier gateway
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                # Through the directory's descriptor: short whatever data_dir is (a unix
                # socket path holds at most 107 bytes), and no path component is looked up twice.
                listener.bind(f"/proc/self/fd/{fd}/{RELAY_SOCKET}")
                # Writable for the sandbox's uid (connecting needs it); other host users
                # cannot reach it: egress/ is 0700.
                os.chmod(RELAY_SOCKET, 0o666, dir_fd=fd)  # noqa: S103
                listener.listen(128)
                listener.setblocking(False)
            except BaseException:
                listener.close()
                raise
            return listener
        finally:
            os.close(fd)

    async def aclose(self) -> None:
        """Stop every relay and remove its socket."""
        async with self._lock:
            for relay, directory in self._relays.values():
                await relay.aclose()
                (directory / RELAY_SOCKET).unlink(missing_ok=True)
            self._relays.clear()
