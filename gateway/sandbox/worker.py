"""One worker process, seen from the gateway: spawn, confine, frames, output, kill.

The gateway spawns workers with ``anyio.open_process`` (never ``fork``: grpcio is not
fork-safe) with an empty environment and a session of their own, places each in a cgroup
of its own before it does anything else, then sends the ``confine`` frame; the worker
answers ``ready`` once it is fully confined. At the end the whole cgroup is killed, checked
empty and removed, and the kernel's counters become the invocation's usage.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from pydantic import ValidationError

from gateway.profiles import Profile
from gateway.sandbox import procfs, strays
from gateway.sandbox.cgroups import MIB, Cgroups, Counters, InvocationCgroup, Limits
from gateway.sandbox.confinement import Imports, SiteBind, confine_frame, write_id_maps
from gateway.sandbox.forked import ForkedProcess
from gateway.sandbox.frames import FRAME, CompiledFrame, Frame, ReadyFrame, UnsharedFrame
from runner import boot, exact_json, wire

log = structlog.get_logger("airlock.worker")

#: Jobs carry the source and the request; the gRPC layer bounds both well below this.
MAX_JOB_BYTES = 64 * 1024 * 1024
#: How much of a worker's output a start failure quotes (an operator's first clue).
_START_TAIL_BYTES = 600
#: How long the worker gets to reap the sandbox's PID 1 and exit after the sandbox is killed.
_REAP_GRACE_SECONDS = 1.0
#: After a kill, how long the gateway keeps reading output the worker printed before it died.
_OUTPUT_GRACE_SECONDS = 1.0


class StartFailed(Exception):
    """A worker did not come up; the message says why, with the tail of what it printed."""


def _start_failure(exc: Exception, worker: Worker) -> str:
    if isinstance(exc, TimeoutError):
        reason = f"it did not report ready within {worker.profile.start_timeout_seconds:g} s"
    elif isinstance(exc, WorkerGone | anyio.BrokenResourceError | ProcessLookupError):
        reason = f"it exited with status {worker.process.returncode} before it was ready"
    else:
        reason = str(exc)
    tail = bytes(worker.output[-_START_TAIL_BYTES:]).decode("utf-8", "replace").strip()
    return f"{reason}: {tail}" if tail else reason


class WorkerGone(Exception):
    """The worker closed its channel (it exited or is exiting)."""


class OutputExceeded(Exception):
    """The worker exceeded an output cap; the message names it."""


class ProtocolViolation(Exception):
    """The worker sent something that is not a valid frame."""


def runner_config(profile: Profile, imports: Imports) -> dict[str, Any]:
    """The worker's command-line configuration (its import path and frame sizes)."""
    return {"path": imports.path, "max_job_bytes": MAX_JOB_BYTES, "frame_bytes": profile.frame_bytes}


#: Starts a worker process that waits for its ``confine`` frame (spawned or forked).
Spawn = Callable[[], Awaitable[Process]]


def spawner(profile: Profile, python: str, imports: Imports | None = None) -> Spawn:
    """Spawn a fresh interpreter per worker (``fresh`` mode)."""
    config = runner_config(profile, imports or Imports.gateway())

    async def spawn() -> Process:
        return await anyio.open_process(
            boot.command(config, python),
            stdin=PIPE,
            stdout=PIPE,
            stderr=PIPE,
            cwd="/",
            env={},
            start_new_session=True,
        )

    return spawn


def _only_child(pid: int) -> int | None:
    children = procfs.children(pid)
    return children[0] if len(children) == 1 else None


def _parent(pid: int) -> int:
    return int(procfs.stat_fields(pid)[1])


def _kill_child(parent: int, pid: int, parent_fd: int) -> None:
    """SIGKILL ``pid`` if it is the child of the live process behind ``parent_fd``."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        # While the parent is alive its pid is its own; a child's pid is pinned by the
        # pidfd just opened: a ppid read after both checks is the truth.
        if not procfs.exited(parent_fd) and _parent(pid) == parent:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
    finally:
        os.close(pidfd)


class Worker:
    """A started, confined worker process, its cgroup and its channel."""

    def __init__(self, process: Process, cgroup: InvocationCgroup, profile: Profile) -> None:
        self.process = process
        self.pid = process.pid
        # Signals go through a pidfd, never process.kill(): for a spawned worker that is
        # Popen.send_signal, which polls first with waitpid(WNOHANG) and so can reap the
        # worker under asyncio's child watcher, whose own waitpid then fails and reports
        # status 255 instead of the real one. Opened before the first await after the spawn;
        # a worker already reaped by then has nothing left to signal.
        self._pidfd: int | None = None
        with contextlib.suppress(ProcessLookupError):
            self._pidfd = os.pidfd_open(process.pid)
        self.cgroup = cgroup
        self.profile = profile
        #: The kernel's counters, read once the worker is dead (see close()).
        self.counters: Counters | None = None
        self.output = bytearray()
        self.output_bytes = 0
        self._frames = BufferedByteReceiveStream(process.stdout)  # type: ignore[arg-type]
        self._sent_bytes = 0
        self._send_lock = anyio.Lock()
        self._closed = False
        self._killed = False
        self._stopped = False
        #: Set once the worker said ``ready``: it is fully confined.
        self.ready = False
        #: Set once the worker sent its result (its output is then complete).
        self.returned = False
        #: Called once :meth:`release` is done (the launcher gives the sandbox's uid back).
        self.on_release: list[Callable[[], None]] = []

    @classmethod
    async def start(
        cls,
        profile: Profile,
        *,
        spawn: Spawn,
        cgroups: Cgroups,
        uid: int,
        site: SiteBind | None = None,
        egress_dir: Path | None = None,
        on_release: Callable[[Worker], None] | None = None,
        imports: Imports | None = None,
    ) -> Worker:
        """Start a worker with ``spawn``, place it in a new cgroup, confine it, wait until ready.

        ``site`` is the function's requirement set (bound read-only, or writable for the
        installer); ``egress_dir`` holds the profile's egress relay socket (network =
        "egress" only). ``on_release`` is called once the worker is released, also when the
        start failed after its process was spawned (before that, nothing ran as ``uid``).
        """
        # A sandbox's PID 1 that outlived its worker is adopted (and reaped) some time later.
        strays.reap()
        limits = Limits(memory_bytes=profile.memory_mib * MIB, pids=profile.pids, cpu_cores=profile.cpu_cores)
        cgroup = await anyio.to_thread.run_sync(cgroups.create, uuid.uuid4().hex, limits)
        try:
            process = await spawn()
        except BaseException:
            cgroup.remove()
            raise
        worker = cls(process, cgroup, profile)
        if on_release is not None:
            worker.on_release.append(lambda: on_release(worker))
        try:
            # The worker moves itself into its cgroup as the first thing it does with this
            # frame, before it forks, unshares or runs anything of the plugin's.
            frame = confine_frame(profile, uid, cgroup.procs_files(), site, egress_dir, imports)
            await worker.send(frame)
            with anyio.fail_after(profile.start_timeout_seconds):
                first = await worker.receive()
                if isinstance(first, UnsharedFrame):
                    write_id_maps(process.pid, frame["uid"], frame["gid"])
                    await worker.send({"op": "mapped"})
                    first = await worker.receive()
            if not isinstance(first, ReadyFrame):
                raise ProtocolViolation(f"expected 'ready', got {first.op!r}")
            if not cgroup.holds(process.pid):
                raise ProtocolViolation("the worker is not in its cgroup")
            worker.ready = True
        except (TimeoutError, WorkerGone, OutputExceeded, ProtocolViolation, anyio.BrokenResourceError, OSError) as exc:
            # OSError: writing the id maps of a worker that already died.
            with anyio.CancelScope(shield=True):
                await worker.close()
            raise StartFailed(_start_failure(exc, worker)) from None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await worker.close()
            raise
        return worker

    def alive(self) -> bool:
        """Whether the worker is still running (for ready workers kept in a warm pool)."""
        alive = getattr(self.process, "alive", None)
        return bool(alive()) if callable(alive) else self.process.returncode is None

    async def send(self, message: dict[str, Any]) -> None:
        """Send one frame to the worker (serialised: replies come from several tasks)."""
        frame = wire.encode(message)
        async with self._send_lock:
            await self.process.stdin.send(frame)  # type: ignore[union-attr]

    async def receive(self) -> Frame:
        """The next validated frame; raises WorkerGone, OutputExceeded or ProtocolViolation."""
        try:
            header = await self._frames.receive_exactly(wire.HEADER.size)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError):
            raise WorkerGone from None
        (length,) = wire.HEADER.unpack(header)
        if length > self.profile.frame_bytes:
            raise OutputExceeded(f"a frame of {length} bytes exceeds frame_bytes={self.profile.frame_bytes}")
        self._sent_bytes += wire.HEADER.size + length
        if self._sent_bytes > self.profile.output_bytes:
            raise OutputExceeded(f"the worker sent more than output_bytes={self.profile.output_bytes}")
        try:
            payload = await self._frames.receive_exactly(length)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError):
            raise ProtocolViolation("the channel ended inside a frame") from None
        try:
            message = exact_json.loads(payload)
            if not wire.forwardable(message):
                raise ProtocolViolation("a frame is nested too deeply to forward")
            frame = FRAME.validate_python(message)
            if isinstance(frame, CompiledFrame):
                # The runner's offer to the code cache is not the plugin's output.
                self._sent_bytes -= wire.HEADER.size + length
            return frame
        except orjson.JSONDecodeError as exc:
            raise ProtocolViolation(f"a frame is not valid UTF-8 JSON ({exc})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProtocolViolation(f"an invalid frame ({where}: {first['msg']})") from None

    async def drain_output(self, *, enforce: bool = True) -> None:
        """Collect what the plugin prints until EOF, keeping ``output_keep_bytes`` of it.

        Raises OutputExceeded past ``stdio_bytes`` (when ``enforce``): one giant line
        without a newline counts like any other bytes.
        """
        stream = self.process.stderr
        assert stream is not None
        while True:
            try:
                chunk = await stream.receive(65_536)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            self._keep_output(chunk)
            if enforce and self.output_bytes > self.profile.stdio_bytes:
                raise OutputExceeded(f"the plugin printed more than stdio_bytes={self.profile.stdio_bytes}")

    def _kill_pid1(self) -> bool:
        """SIGKILL the sandbox's PID 1, which ends everything in its pid namespace at once.

        Once the worker is ready, its only child is PID 1 and every other process of the
        sandbox is inside PID 1's namespace (a process cannot leave its pid namespace), so
        the kernel kills them all when PID 1 dies. PID 1's own children (PID 2 and any
        orphan it adopted) are killed in the same breath, so that they do not wait for PID 1
        to exit first. The cgroup is still checked in release() and frozen and killed if
        anything is left.

        Only for a forked worker, which nobody but this gateway thread reaps: while it is
        unreaped its pid is its own, and PID 1 is pinned by a pidfd and checked alive
        before its pid is trusted as the parent of anything. A spawned worker (asyncio
        reaps it from another thread) goes through the cgroup instead.
        """
        if not isinstance(self.process, ForkedProcess) or self.process.returncode is not None:
            return False
        pid1 = _only_child(self.pid)
        if pid1 is None:
            return False
        try:
            pid1fd = os.pidfd_open(pid1)
        except OSError:
            return False
        try:
            if _parent(pid1) != self.pid:
                return False
            for child in procfs.children(pid1):
                _kill_child(pid1, child, pid1fd)
            signal.pidfd_send_signal(pid1fd, signal.SIGKILL)
            return True
        except (OSError, ValueError, IndexError):
            return False
        finally:
            os.close(pid1fd)

    def _kill_worker(self) -> None:
        """SIGKILL the worker itself through its pidfd (nothing once it has exited)."""
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def _keep_output(self, chunk: bytes) -> None:
        self.output_bytes += len(chunk)
        room = self.profile.output_keep_bytes - len(self.output)
        if room > 0:
            self.output += chunk[:room]

    def cpu_ms(self) -> int:
        """CPU time of everything in the sandbox so far (the kernel's count).

        It includes the few milliseconds the sandbox spent confining itself, as RLIMIT_CPU
        does: both count the sandbox's processes from their start.
        """
        return self.cgroup.cpu_ms()

    async def wait_exit(self, grace_seconds: float) -> int | None:
        """The exit status if the worker ends within ``grace_seconds``, else None."""
        with anyio.move_on_after(grace_seconds):
            return await self.process.wait()
        return None

    async def close(self) -> None:
        """Stop the sandbox, then reap the worker and remove its cgroup (stop + release)."""
        await self.stop()
        await self.release()

    async def kill(self) -> None:
        """SIGKILL every process of the sandbox, once (the first step of :meth:`stop`).

        Afterwards the sandbox adds nothing to its channel: the frames it wrote before can
        still be read, up to the end of the channel.
        """
        if self._killed:
            return
        self._killed = True
        try:
            if not self.ready:
                # A worker that never said ready waits for frames that will not come: it
                # would not exit by itself, and sparing it would hold the sandbox's slot
                # through both graces below. Everything goes, the worker first (it may not
                # have moved into its cgroup yet); a PID 1 it had already forked is adopted
                # and reaped by the gateway (strays.reap in release()).
                self._kill_worker()
                await anyio.to_thread.run_sync(self.cgroup.kill)
            elif not self._kill_pid1():
                # Everything but the worker: it reaps the sandbox's PID 1 (whose death ends
                # the rest of the sandbox) and then exits by itself.
                await anyio.to_thread.run_sync(self.cgroup.kill, self.pid)
        except OSError:
            log.exception("cgroup_kill_failed", pid=self.pid)

    async def stop(self) -> None:
        """Kill the sandbox, collect the rest of its output and read the kernel's counters.

        Once this returns, every process of the sandbox has been sent SIGKILL and every
        holder of its output is gone (the end of the output is only seen then), so the
        Result can be built. What is left, the kernel tearing down the sandbox's namespaces
        and the worker exiting, is :meth:`release`'s.
        """
        if self._stopped:
            return
        self._stopped = True
        await self.kill()
        available = getattr(self.process.stderr, "receive_available", None)
        if self.returned and callable(available):
            # The runner waited until its output had been read before it sent the result.
            self._keep_output(available(self.profile.stdio_bytes + 1))
        else:
            with anyio.move_on_after(_OUTPUT_GRACE_SECONDS):
                await self.drain_output(enforce=False)
        try:
            self.counters = self.cgroup.counters()
        except OSError:
            log.exception("cgroup_counters_failed", pid=self.pid)

    async def release(self) -> None:
        """Reap the worker and remove the cgroup (after :meth:`stop`).

        Each step runs even when an earlier one failed: a worker is always reaped and its
        channel closed, and a cgroup that cannot be emptied is reported, not forgotten.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if await self.wait_exit(_REAP_GRACE_SECONDS) is None:
                # The worker leads its own session: killpg and a direct kill end it (and
                # anything that somehow left the cgroup) when it does not exit in time.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self._kill_worker()
                await self.process.wait()
        finally:
            await self.process.aclose()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            await anyio.to_thread.run_sync(self._release_cgroup)
            # A sandbox process whose parent died first was adopted by the gateway.
            strays.reap()
            for callback in self.on_release:
                callback()

    def _release_cgroup(self) -> None:
        try:
            if not self.cgroup.empty():
                self.cgroup.kill()
            if self.cgroup.empty():
                self.cgroup.remove()
            else:
                log.error("cgroup_not_empty", cgroup=str(next(iter(self.cgroup.dirs.values()))))
        except OSError:
            log.exception("cgroup_release_failed", pid=self.pid)
