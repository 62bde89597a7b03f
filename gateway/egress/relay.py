r"""The gateway's egress relay for one profile: a unix socket the profile's sandboxes connect to.

Protocol, per connection: the sandbox's forwarder sends one line, the allow-list entry it
stands for (``api.example.com:443\n``); the relay answers ``OK\n`` and then copies bytes
both ways, or ``ERR <verdict>\n`` and closes. The forwarder runs inside the sandbox and
is as untrusted as the plugin (which can also talk to this socket directly), so the relay
decides everything itself: the entry must be on the profile's allow-list; the relay
resolves the name, refuses special addresses (gateway.egress.addresses) and the gateway's
own listening ports, and connects to the very address it checked, never resolving twice
(no DNS rebinding between check and use). Connections per sandbox are capped, and each
relayed connection ends when the sandbox process that opened it does (a pidfd).

Each relay serves its connections in a task group of its own, nested in the gateway's
background (gateway.background): closing the relay cancels them and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
import anyio.abc
import structlog

from gateway.background import Background
from gateway.egress.addresses import refusal
from gateway.metrics.families import Metrics
from gateway.profiles import Profile
from gateway.profiles.allowlist import MAX_ENTRY_CHARS, Entry, IPAddress, parse_entries, parse_network

log = structlog.get_logger("airlock.egress")

#: How long a sandbox has to name its entry after connecting.
REQUEST_SECONDS = 5.0
#: How long a connection over egress_max_connections may take to send its request line before
#: its refusal (so that the refusal is read, not met with EPIPE); it holds nothing longer.
REFUSAL_WAIT_SECONDS = 0.5
_CHUNK_BYTES = 64 * 1024
_PEERCRED = struct.Struct("3i")


class Refused(Exception):
    """A relay request is refused; ``verdict`` is the bounded label, the message the detail."""

    def __init__(self, verdict: str, detail: str, address: str | None = None) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.address = address


@dataclass(frozen=True)
class Peer:
    """Who connected, as the kernel says (SO_PEERCRED): the sandbox's uid and process outside."""

    pid: int
    uid: int

    @classmethod
    def of(cls, sock: socket.socket) -> Peer:
        """The credentials of the process at the other end of ``sock``."""
        pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        return cls(pid, uid)


def _is_local(address: IPAddress) -> bool:
    """Whether ``address`` belongs to this host (a socket can bind to it)."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


class EgressRelay:
    """Serves one egress profile's relay socket (bound by the caller, see gateway.egress.relays)."""

    def __init__(
        self, profile: Profile, *, own_ports: Callable[[], set[int]], metrics: Metrics | None, background: Background
    ) -> None:
        self.profile = profile
        self._entries: dict[str, Entry] = {e.text: e for e in parse_entries(profile.egress_allow)}
        self._private = tuple(parse_network(text) for text in profile.egress_allow_private)
        self._own_ports = own_ports
        self._metrics = metrics
        self._background = background
        self._server: asyncio.AbstractServer | None = None
        #: The relayed connections (None before serve() and once closing).
        self._connections: anyio.abc.TaskGroup | None = None
        self._scope = anyio.CancelScope()
        self._finished = anyio.Event()
        self._open: Counter[int] = Counter()

    async def serve(self, listener: socket.socket) -> None:
        """Accept relay requests on ``listener`` (a bound, listening unix socket), from now until aclose()."""
        await self._background.start_task(self._serve, listener, name=f"egress-relay-{self.profile.name}")

    async def _serve(self, listener: socket.socket, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            with self._scope:
                async with anyio.create_task_group() as connections:
                    # The stream's default buffer limit (64 KiB): a smaller one would also
                    # throttle the relayed bytes that follow the request line. The line's own
                    # bound is _request's.
                    self._server = await asyncio.start_unix_server(self._accepted, sock=listener)
                    self._connections = connections
                    task_status.started()
                    await anyio.sleep_forever()
        finally:
            self._connections = None
            self._finished.set()

    async def aclose(self) -> None:
        """Stop accepting and end every relayed connection."""
        if self._server is not None:
            self._server.close()
        self._scope.cancel()
        if self._server is not None:
            await self._finished.wait()
            await self._server.wait_closed()

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connections is None:  # closing: nothing relays any more
            writer.close()
            return
        self._connections.start_soon(self._serve_one, reader, writer)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = Peer.of(writer.get_extra_info("socket"))
        except OSError:  # the sandbox went away before it could be told apart
            writer.close()
            return
        self._open[peer.uid] += 1
        try:
            # A sandbox's connections last as long as the process that opened them.
            with _ending_with(peer.pid):
                await self._relay(peer, reader, writer)
        except (ConnectionError, OSError):
            pass  # the sandbox went away
        except Exception:
            # The sandbox chose every byte of this connection: whatever it makes go wrong ends
            # this connection, never the relay's others or the gateway's background.
            log.exception("egress_connection_failed", profile=self.profile.name, sandbox_uid=peer.uid)
        finally:
            self._open[peer.uid] -= 1
            if not self._open[peer.uid]:
                del self._open[peer.uid]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _relay(self, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        entry_text = "?"
        try:
            if self._open[peer.uid] > self.profile.egress_max_connections:
                # Refused without holding the connection for REQUEST_SECONDS (a sandbox could
                # then hold any number of them), but after a short wait for its request line:
                # a client still sending it when the relay answers and closes sees EPIPE
                # instead of the answer.
                with contextlib.suppress(Refused):
                    entry_text = await _request(reader, REFUSAL_WAIT_SECONDS)
                raise Refused("too_many_connections", f"egress_max_connections={self.profile.egress_max_connections}")
            entry_text = await _request(reader)
            entry = self._entries.get(entry_text)
            if entry is None:
                raise Refused("not_listed", "the entry is not on the profile's egress_allow")
            upstream, address = await self._connect(entry)
        except Refused as refused:
            self._record(peer, entry_text, refused.verdict, refused.address, str(refused))
            writer.write(f"ERR {refused.verdict}\n".encode())
            await writer.drain()
            return
        self._record(peer, entry_text, "allowed", address, None)
        up_reader, up_writer = upstream
        try:
            writer.write(b"OK\n")
            await _pump_both(reader, writer, up_reader, up_writer, self._count)
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await up_writer.wait_closed()

    async def _connect(self, entry: Entry) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], str]:
        timeout = self.profile.egress_connect_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if entry.literal is not None:
            candidates = [entry.literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    candidates = await _resolve(entry)
            except TimeoutError:
                raise Refused("resolve_failed", f"{entry.host}: no answer within {timeout:g} s") from None
        permitted: list[IPAddress] = []
        refusals: list[tuple[str, str]] = []
        for address in candidates:
            kind = refusal(address, literal=entry.literal, allowed=self._private)
            if kind is None and entry.port in self._own_ports() and (address.is_loopback or _is_local(address)):
                kind = "gateway_port"
            if kind is None:
                permitted.append(address)
            else:
                refusals.append((str(address), kind))
        if not permitted:
            first, kind = refusals[0]
            verdict = "gateway_port" if kind == "gateway_port" else "forbidden_address"
            raise Refused(verdict, f"{entry.host} resolves to {first} ({kind})", first)
        failure = "no address"
        for address in permitted:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            target = _format(address, entry.port)
            try:
                async with asyncio.timeout(remaining):
                    return await asyncio.open_connection(str(address), entry.port), target
            except TimeoutError:
                failure = f"{target}: timed out"
            except OSError as exc:
                failure = f"{target}: {exc.strerror or exc}"
        raise Refused("connect_failed", failure, _format(permitted[0], entry.port))

    def _record(self, peer: Peer, entry: str, verdict: str, address: str | None, detail: str | None) -> None:
        log.info(
            "egress_connect",
            profile=self.profile.name,
            entry=entry,
            verdict=verdict,
            address=address,
            detail=detail,
            sandbox_uid=peer.uid,
        )
        if self._metrics is not None:
            self._metrics.egress_connection(self.profile.name, verdict)

    def _count(self, direction: str, size: int) -> None:
        if self._metrics is not None:
            self._metrics.egress_bytes.labels(self.profile.name, direction).inc(size)


def _format(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


async def _request(reader: asyncio.StreamReader, within: float = REQUEST_SECONDS) -> str:
    """The entry a sandbox names: one ASCII line within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            line = await reader.readuntil(b"\n")
    except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
        raise Refused("malformed", "no complete request line") from None
    if len(line) > MAX_ENTRY_CHARS + 1:
        raise Refused("malformed", f"the request line is longer than {MAX_ENTRY_CHARS} characters")
    try:
        return line[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise Refused("malformed", "the request line is not ASCII") from None


async def _resolve(entry: Entry) -> list[IPAddress]:
    """Every address ``entry.host`` resolves to now, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(entry.host, entry.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise Refused("resolve_failed", f"{entry.host}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(addresses))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Callable[[int], None]) -> None:
    """Copy ``reader`` to ``writer`` until EOF, then half-close ``writer``."""
    while data := await reader.read(_CHUNK_BYTES):
        writer.write(data)
        count(len(data))
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _pump_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    count: Callable[[str, int], None],
) -> None:
    """Relay both directions until both ended; an error in either ends both."""
    async with anyio.create_task_group() as pumps:

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, direction: str) -> None:
            try:
                await _pump(source, sink, lambda n: count(direction, n))
            except Exception:  # noqa: BLE001 - a broken direction ends the connection, nothing more
                pumps.cancel_scope.cancel()

        pumps.start_soon(pump, reader, up_writer, "out")
        pumps.start_soon(pump, up_reader, writer, "in")


@contextlib.contextmanager
def _ending_with(pid: int) -> Iterator[None]:
    """End what runs in the block (one relayed connection) when process ``pid`` exits.

    A dead sandbox's half of the connection may look like a half-close, which alone would
    leave the upstream half open for as long as the remote host likes. The block runs in a
    cancel scope of its own, cancelled then (never Task.cancel(), which anyio would take
    for the cancellation of the relay's whole task group).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        raise ConnectionResetError(f"the sandbox process {pid} is gone") from None
    loop = asyncio.get_running_loop()
    scope = anyio.CancelScope()

    def exited() -> None:
        loop.remove_reader(pidfd)  # readable from now on: cancel once
        scope.cancel()

    loop.add_reader(pidfd, exited)
    try:
        with scope:
            yield
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
