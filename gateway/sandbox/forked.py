"""A worker forked by a zygote, seen from the gateway as an ``anyio.abc.Process``.

The worker is the gateway's child (the zygote forks it through an intermediate process that
exits, and the gateway is a child subreaper), so the gateway reaps it with ``waitid`` on a
pidfd: the pid cannot be recycled under it, and signals go through the pidfd too. Its
frame channel (one pair per direction) and its output are the gateway's ends of three
socket pairs, each shut in the direction it is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from signal import SIGKILL, SIGTERM, Signals, pidfd_send_signal

import anyio
import anyio.lowlevel
from anyio.abc import ByteReceiveStream, ByteSendStream, Process, SocketStream

from gateway.sandbox import procfs


class OutputStream(ByteReceiveStream):
    """The gateway's end of a worker's output socket, read with ``loop.sock_recv``.

    Besides waiting for data, it can take what has already arrived without waiting
    (:meth:`receive_available`): the runner waits until its output has been read before
    it sends its result (runner.invocation), so at that point everything is here.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next bytes; raises EndOfStream once every writer is gone."""
        try:
            data = await asyncio.get_running_loop().sock_recv(self._sock, max_bytes)
        except OSError:
            raise anyio.ClosedResourceError from None
        if not data:
            raise anyio.EndOfStream
        return data

    def receive_available(self, max_bytes: int) -> bytes:
        """What has arrived so far, up to ``max_bytes``, without waiting."""
        chunks: list[bytes] = []
        size = 0
        while size < max_bytes:
            try:
                data = self._sock.recv(min(65536, max_bytes - size))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the socket."""
        self._sock.close()


class ForkedProcess(Process):
    """A forked worker: its pid(fd), its channel and its output stream."""

    def __init__(self, pid: int, to_worker: SocketStream, from_worker: SocketStream, output: OutputStream) -> None:
        self._pid = pid
        # Opened right away: the worker is the gateway's unreaped child, so the pid is its.
        self._pidfd = os.pidfd_open(pid)
        self._to_worker = to_worker
        self._from_worker = from_worker
        self._output = output
        self._returncode: int | None = None

    @classmethod
    async def adopt(
        cls, pid: int, to_worker: socket.socket, from_worker: socket.socket, output: socket.socket
    ) -> ForkedProcess:
        """Wrap a just-forked worker and the gateway's ends of its three socket pairs.

        As transport-based streams: anyio's UNIXSocketStream can set a cancelled future's
        result when a receive is cancelled just as data arrives (anyio 4.16).
        """
        return cls(
            pid,
            await SocketStream.from_socket(to_worker),
            await SocketStream.from_socket(from_worker),
            OutputStream(output),
        )

    def _poll(self) -> bool:
        """Reap the worker if it has exited (never blocks)."""
        if self._returncode is not None:
            return True
        result = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
        if result is None or result.si_pid == 0:
            return False
        code = result.si_status
        self._returncode = code if result.si_code == os.CLD_EXITED else -code
        return True

    def alive(self) -> bool:
        """Whether the worker is still running (a pidfd is readable once it has exited)."""
        if self._returncode is not None:
            return False
        return not (procfs.exited(self._pidfd) and self._poll())

    async def wait(self) -> int:
        """Wait for the worker to exit and reap it; its exit status (negative: signal)."""
        while not self._poll():
            await anyio.wait_readable(self._pidfd)
        assert self._returncode is not None
        return self._returncode

    def send_signal(self, signal: Signals) -> None:
        """Signal the worker through its pidfd (nothing once it is reaped)."""
        if self._returncode is None:
            with contextlib.suppress(ProcessLookupError):
                pidfd_send_signal(self._pidfd, signal)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(SIGKILL)

    async def aclose(self) -> None:
        """Close the streams and reap the worker (killing it if it still runs)."""
        with anyio.CancelScope(shield=True):
            for stream in (self._to_worker, self._from_worker, self._output):
                # Each closed whatever happened to the one before.
                with contextlib.suppress(Exception):
                    await stream.aclose()
            # A transport that failed (a write after the worker died) closes its socket in
            # a callback on the next loop turn: let it run.
            await anyio.lowlevel.checkpoint()
            if self._returncode is None:
                self.kill()
                await self.wait()
            os.close(self._pidfd)

    @property
    def pid(self) -> int:
        """The worker's pid (the gateway's child)."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal), else None."""
        self._poll()
        return self._returncode

    @property
    def stdin(self) -> ByteSendStream:
        """The frame channel, gateway → worker."""
        return self._to_worker

    @property
    def stdout(self) -> ByteReceiveStream:
        """The frame channel, worker → gateway."""
        return self._from_worker

    @property
    def stderr(self) -> OutputStream:
        """What the plugin prints (its stdout and stderr)."""
        return self._output
