"""Zygotes, seen from the gateway: start one per profile, ask it for forks, recycle it.

A zygote (runner.zygote) is a pre-imported interpreter that forks workers; each worker ends
up as the gateway's own child (see runner.zygote), which is why the gateway makes itself a
child subreaper before it starts one. The gateway retires a zygote after ``zygote_max_forks``
forks or ``zygote_max_age_seconds``, and replaces one that failed in any way (died, answered
nonsense, took too long) before retrying the fork once on the replacement: running sandboxes
are not the zygote's children, so none of this touches them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import Process

from gateway.profiles import Profile
from gateway.sandbox import leftovers
from gateway.sandbox.forked import ForkedProcess
from runner import boot
from runner.confine import syscalls
from runner.zygote import MESSAGE_BYTES

log = structlog.get_logger("airlock.zygote")

#: How long a zygote may take at least to import the runtime and say it is ready (a profile
#: with a longer start_timeout_seconds, for a slow machine, gives it that long).
_START_SECONDS = 30.0
#: How long one fork request may take before the zygote counts as hung.
_FORK_SECONDS = 10.0
#: How long a retired zygote gets to exit after its control socket is closed.
_EXIT_SECONDS = 2.0


class ZygoteFailed(Exception):
    """A zygote did not start or did not fork; the message says how."""


#: How many launchers of this process need it to be a child subreaper.
_subreaper_holders = 0


def become_subreaper(enable: bool = True) -> None:
    """Make this process the reaper of its orphaned descendants (the forked workers), or stop.

    The flag belongs to the process, and a process may run several gateways (an embedding
    host, the test suite): it is cleared only when the last launcher that asked for it lets
    go, or a live gateway's forked workers would be re-parented to init and lost to it.
    """
    global _subreaper_holders  # noqa: PLW0603 - the kernel's flag is per process too
    _subreaper_holders = _subreaper_holders + 1 if enable else max(_subreaper_holders - 1, 0)
    if enable and _subreaper_holders == 1:
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    elif not enable and _subreaper_holders == 0:
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0)


class Zygote:
    """One running zygote process and its control socket."""

    def __init__(self, process: Process, control: socket.socket, fork_seconds: float = _FORK_SECONDS) -> None:
        self.process = process
        self.pid = process.pid
        self._control = control
        self._lock = anyio.Lock()
        self._fork_seconds = fork_seconds
        self.forks = 0
        self.started = time.monotonic()
        self.broken = False
        #: Fork requests sent whose answer never came (timed out): the zygote may still
        #: fork them, and their workers must then be killed and reaped (see aclose).
        self.unanswered = 0
        #: Workers of unanswered requests that were found and reaped when it was retired.
        self.leftovers_reaped = 0

    @classmethod
    async def start(
        cls,
        config: dict[str, Any],
        python: str,
        fork_seconds: float = _FORK_SECONDS,
        start_seconds: float = _START_SECONDS,
    ) -> Zygote:
        """Spawn a zygote with ``config`` (the worker configuration) and wait until it is ready.

        ``fork_seconds`` is how long one fork request may take before the zygote counts as
        hung, ``start_seconds`` how long it may take to be ready.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await anyio.open_process(
                boot.command({**config, "gateway_pid": os.getpid()}, python, entry="zygote"),
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=None,  # a zygote prints nothing unless it crashes: the gateway's log
                cwd="/",
                env={},
                start_new_session=True,
            )
        except BaseException:
            # Not started (or cancelled while starting, as a warm pool's refill is when the
            # gateway stops): the gateway's end of the control socket goes too.
            ours.close()
            raise
        finally:
            theirs.close()
        zygote = cls(process, ours, fork_seconds)
        try:
            ours.settimeout(start_seconds)
            reply = await anyio.to_thread.run_sync(zygote._receive)
            if reply.get("ready") != process.pid:
                raise ZygoteFailed(f"unexpected first message {reply!r}")
            ours.settimeout(fork_seconds)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await zygote.aclose()
            raise
        log.info("zygote_started", pid=process.pid)
        return zygote

    def _receive(self) -> dict[str, Any]:
        try:
            data = self._control.recv(MESSAGE_BYTES)
        except OSError as exc:  # includes the timeout
            raise ZygoteFailed(f"no answer from zygote {self.pid}: {exc or type(exc).__name__}") from None
        if not data:
            raise ZygoteFailed(f"zygote {self.pid} exited")
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            raise ZygoteFailed(f"zygote {self.pid} sent a malformed message")
        return message

    def _fork(self, fds: list[int]) -> int:
        try:
            socket.send_fds(self._control, [b'{"op":"fork"}'], fds)
        except OSError as exc:
            raise ZygoteFailed(f"zygote {self.pid} is gone: {exc}") from None
        try:
            reply = self._receive()
        except ZygoteFailed:
            # The request is out and the zygote holds its descriptors: it may still fork.
            self.unanswered += 1
            raise
        pid = reply.get("pid")
        if not isinstance(pid, int) or pid <= 1:
            raise ZygoteFailed(f"zygote {self.pid} could not fork: {reply.get('error', reply)}")
        return pid

    async def fork(self) -> ForkedProcess:
        """A new worker, waiting for its ``confine`` frame; marks the zygote broken on failure."""
        # One socket pair per direction, each shut the other way: the worker can only read
        # frames from the first, and only write frames and output to the others.
        to_worker, from_worker, output = (socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(3))
        ours = [to_worker[0], from_worker[0], output[0]]
        theirs = [to_worker[1], from_worker[1], output[1]]
        to_worker[0].shutdown(socket.SHUT_RD)
        to_worker[1].shutdown(socket.SHUT_WR)
        for pair in (from_worker, output):
            pair[0].shutdown(socket.SHUT_WR)
            pair[1].shutdown(socket.SHUT_RD)
        try:
            async with self._lock:
                if self.broken:
                    raise ZygoteFailed(f"zygote {self.pid} is being replaced")
                self.forks += 1
                try:
                    pid = await anyio.to_thread.run_sync(self._fork, [s.fileno() for s in theirs])
                except ZygoteFailed:
                    self.broken = True
                    raise
        except BaseException:
            for sock in ours:
                sock.close()
            raise
        finally:
            # The worker has its own copies now (or there is no worker).
            for sock in theirs:
                sock.close()
        try:
            # Shielded: once forked, the worker must end up owned (and later reaped).
            with anyio.CancelScope(shield=True):
                process = await ForkedProcess.adopt(pid, *ours)
        except BaseException:
            for sock in ours:
                sock.close()
            with contextlib.suppress(ChildProcessError, ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)  # noqa: ASYNC222 - SIGKILLed just now: its exit is immediate
            raise
        return process

    async def aclose(self) -> None:
        """Retire: close the control socket (the zygote exits), then reap it.

        A fork in progress finishes first: its worker exists and must be handed over. The
        workers of unanswered requests (a fork that timed out) are killed and reaped: the
        zygote's late answers name them, and if it has to be killed, whatever it was forking
        then is killed with it.
        """
        self.broken = True
        late: list[int] = []
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self.unanswered:
                    late = await self._late_answers()
                self._control.close()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_EXIT_SECONDS):
                await self.process.wait()
            pinned = leftovers.pin(late)
            if self.process.returncode is None:
                if self.unanswered:
                    # Hung mid-fork, perhaps: its intermediate and worker would outlive it.
                    pinned += leftovers.pin(leftovers.descendants(self.pid))
                    leftovers.kill(pinned)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
            leftovers.kill(pinned)
            self.leftovers_reaped = await leftovers.reap(pinned)
            await self.process.aclose()
        if self.unanswered:
            log.warning("zygote_unanswered_forks", pid=self.pid, unanswered=self.unanswered, late=late)
        log.info("zygote_stopped", pid=self.pid, forks=self.forks, status=self.process.returncode)

    async def _late_answers(self) -> list[int]:
        """The workers the zygote still forks for unanswered requests, until it exits.

        Shutting down the gateway's sending side makes the zygote exit after the requests it
        already holds; their answers are read until then (or until _EXIT_SECONDS).
        """
        pids: list[int] = []
        with contextlib.suppress(OSError):
            self._control.shutdown(socket.SHUT_WR)
        self._control.settimeout(_EXIT_SECONDS)
        while True:
            try:
                reply = await anyio.to_thread.run_sync(self._receive)
            except ZygoteFailed:  # it exited (or stays silent: then it is killed)
                return pids
            pid = reply.get("pid")
            if isinstance(pid, int) and pid > 1:
                pids.append(pid)


class ZygoteSlot:
    """The current zygote of one profile: started on first use, recycled, replaced."""

    def __init__(self, profile: Profile, config: dict[str, Any], python: str) -> None:
        self.profile = profile
        self._config = config
        self._python = python
        self._zygote: Zygote | None = None
        self._lock = anyio.Lock()
        #: Zygotes started so far (the first one included); replacements show up here.
        self.generation = 0

    @property
    def current_pid(self) -> int | None:
        """The pid of the zygote that serves forks now (None before the first)."""
        return self._zygote.pid if self._zygote else None

    def _due(self, zygote: Zygote) -> str | None:
        if zygote.broken or zygote.process.returncode is not None:
            return "failed"
        if zygote.forks >= self.profile.zygote_max_forks:
            return "max_forks"
        if time.monotonic() - zygote.started >= self.profile.zygote_max_age_seconds:
            return "max_age"
        return None

    async def _current(self) -> Zygote:
        async with self._lock:
            zygote = self._zygote
            if zygote is not None and (reason := self._due(zygote)):
                log.info("zygote_recycled", pid=zygote.pid, reason=reason, profile=self.profile.name)
                self._zygote = None
                await zygote.aclose()
                zygote = None
            if zygote is None:
                # A fork is part of a worker's start: it gets no more than start_timeout_seconds.
                fork_seconds = min(_FORK_SECONDS, self.profile.start_timeout_seconds)
                start_seconds = max(_START_SECONDS, self.profile.start_timeout_seconds)
                zygote = self._zygote = await Zygote.start(self._config, self._python, fork_seconds, start_seconds)
                self.generation += 1
            return zygote

    async def fork(self) -> ForkedProcess:
        """A forked worker; a failed zygote is replaced and the fork retried once."""
        try:
            return await (await self._current()).fork()
        except ZygoteFailed as exc:
            log.warning("zygote_failed", error=str(exc), profile=self.profile.name)
        return await (await self._current()).fork()

    async def aclose(self) -> None:
        """Retire the current zygote (its forked workers are unaffected)."""
        async with self._lock:
            if self._zygote is not None:
                zygote, self._zygote = self._zygote, None
                await zygote.aclose()
