"""The egress forwarder: relays the plugin's TCP connections to the gateway (runs in the sandbox).

Started by the runner after confinement and before any plugin code, as one thread of PID 2
with one selectors loop. Each listening socket (bound by PID 1, runner.confine.network)
stands for one allow-list entry. For every connection the plugin makes to it, the
forwarder opens the gateway's relay socket (mounted at /run/airlock), names the entry in
one line, and copies bytes both ways once the gateway says ``OK``; on ``ERR`` it resets
the plugin's connection. It enforces nothing: it runs in the plugin's own process, which
can do anything the forwarder can. The gateway checks every request.

Bounded: at most ``max_connections`` connections at once (more are reset at once), and at
most BUFFER_BYTES waiting in each direction of each (a side is not read while the other
cannot keep up).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field

BUFFER_BYTES = 64 * 1024
_REPLY_BYTES = 64
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(eq=False)
class _Side:
    """One socket of a link and what waits to be written to it."""

    sock: socket.socket
    pending: bytearray = field(default_factory=bytearray)
    #: The peer sent EOF: shut this side's write half once ``pending`` is out.
    closing: bool = False
    shut: bool = False
    #: The events the selector watches on ``sock`` (0: not registered).
    events: int = 0


@dataclass(eq=False)
class _Link:
    """One relayed connection: the plugin's TCP socket and the gateway relay's unix socket."""

    plugin: _Side
    relay: _Side
    reply: bytearray = field(default_factory=bytearray)
    open: bool = False

    def other(self, side: _Side) -> _Side:
        return self.relay if side is self.plugin else self.plugin


class Forwarder:
    """Accepts on the egress listeners and relays each connection to the gateway."""

    def __init__(self, listeners: list[tuple[socket.socket, str]], relay_path: str, max_connections: int) -> None:
        self._selector = selectors.DefaultSelector()
        self._relay_path = relay_path
        self._max = max_connections
        self._links: set[_Link] = set()
        for sock, entry in listeners:
            self._selector.register(sock, selectors.EVENT_READ, entry)

    def start(self) -> threading.Thread:
        """Run the loop on a daemon thread (it lives as long as the sandbox)."""
        thread = threading.Thread(target=self._run, name="airlock-egress", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while True:
            for key, mask in self._selector.select():
                if isinstance(key.data, str):
                    self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
                else:
                    link, side = key.data
                    if link in self._links:
                        self._service(link, side, mask)

    def _accept(self, listener: socket.socket, entry: str) -> None:
        try:
            plugin, _ = listener.accept()
        except OSError:
            return
        if len(self._links) >= self._max:
            _reset(plugin)
            return
        relay = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        relay.setblocking(False)  # a full backlog at the gateway is a refusal, not a stall
        try:
            relay.connect(self._relay_path)
        except OSError:
            relay.close()
            _reset(plugin)
            return
        plugin.setblocking(False)
        link = _Link(_Side(plugin), _Side(relay, bytearray(f"{entry}\n".encode())))
        self._links.add(link)
        self._watch(link)

    def _service(self, link: _Link, side: _Side, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(side)
            if mask & selectors.EVENT_READ:
                self._read(link, side)
        except OSError:
            self._close(link, reset=True)
            return
        if link.plugin.shut and link.relay.shut:
            self._close(link, reset=False)
        elif link in self._links:
            self._watch(link)

    def _read(self, link: _Link, side: _Side) -> None:
        if side is link.relay and not link.open:
            self._read_reply(link)
            return
        data = side.sock.recv(BUFFER_BYTES)
        target = link.other(side)
        if data:
            target.pending += data
        else:
            target.closing = True
            self._flush(target)

    def _read_reply(self, link: _Link) -> None:
        data = link.relay.sock.recv(_REPLY_BYTES - len(link.reply))
        link.reply += data
        if b"\n" not in link.reply:
            if not data or len(link.reply) >= _REPLY_BYTES:
                self._close(link, reset=True)
            return
        line, _, rest = bytes(link.reply).partition(b"\n")
        if line != b"OK":
            # Refused by the gateway (its log says why): the plugin sees a reset connection.
            self._close(link, reset=True)
            return
        link.open = True
        link.plugin.pending += rest

    def _flush(self, side: _Side) -> None:
        if side.pending:
            sent = side.sock.send(side.pending)
            del side.pending[:sent]
        if side.closing and not side.pending and not side.shut:
            side.sock.shutdown(socket.SHUT_WR)
            side.shut = True

    def _watch(self, link: _Link) -> None:
        """Read a side only while the other side's buffer has room; write while data waits."""
        for side in (link.plugin, link.relay):
            other = link.other(side)
            events = 0
            if len(other.pending) < BUFFER_BYTES and not other.closing:
                events |= selectors.EVENT_READ
            if side.pending:
                events |= selectors.EVENT_WRITE
            if side is link.plugin and not link.open:
                events &= ~selectors.EVENT_WRITE
            if side is link.relay and not link.open:
                events |= selectors.EVENT_READ  # the gateway's answer
            if events == side.events:
                continue
            if not events:
                self._selector.unregister(side.sock)
            elif side.events:
                self._selector.modify(side.sock, events, (link, side))
            else:
                self._selector.register(side.sock, events, (link, side))
            side.events = events

    def _close(self, link: _Link, *, reset: bool) -> None:
        self._links.discard(link)
        for side in (link.plugin, link.relay):
            if side.events:
                self._selector.unregister(side.sock)
        if reset:
            _reset(link.plugin.sock)
        else:
            link.plugin.sock.close()
        link.relay.sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0): the plugin sees ECONNRESET, not a clean end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()
