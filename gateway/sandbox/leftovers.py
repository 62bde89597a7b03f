"""Processes a retired zygote forked that no ForkedProcess owns: kill them and reap them.

A fork request that timed out (or whose answer was otherwise lost) can still be carried out
by the zygote afterwards: its worker then exists, re-parented to the gateway (a child
subreaper), with nobody waiting for it. Its channel is closed, so it exits, and it would stay
a zombie for the gateway's lifetime; killed with the zygote instead, the zygote's
intermediate process (and its child) are re-parented to the gateway the same way.
strays.reap does not take them: they live in the gateway's own pid namespace, where an
exit status may belong to someone else. Here the pids are known (the zygote's late answer,
or its process tree read before it was killed) and each is pinned by a pidfd before it is
signalled, so only those processes are killed and reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal

import anyio

from gateway.sandbox import procfs

#: How long a killed leftover gets to exit before the gateway stops waiting for it.
_EXIT_SECONDS = 2.0


def descendants(pid: int) -> list[int]:
    """Pids of ``pid``'s children, their children and so on (a snapshot; empty if it is gone)."""
    found: list[int] = []
    pending = procfs.children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(procfs.children(child))
    return found


def pin(pids: list[int]) -> list[int]:
    """Pidfds of those of ``pids`` that still exist (so that a reused pid is never signalled)."""
    pidfds = []
    for pid in pids:
        with contextlib.suppress(OSError):
            pidfds.append(os.pidfd_open(pid))
    return pidfds


def kill(pidfds: list[int]) -> None:
    """SIGKILL each pinned process (gone ones are skipped)."""
    for pidfd in pidfds:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)


async def reap(pidfds: list[int]) -> int:
    """Wait for each pinned, killed process to exit and reap those that are the gateway's; closes the pidfds.

    Call it once the processes' parents (the zygote, its intermediates) are dead too: a
    process is re-parented to the gateway when its parent exits, and only then can the
    gateway reap it. One reaped by its own parent first is simply gone. Returns how many
    were reaped here.
    """
    reaped = 0
    try:
        with anyio.move_on_after(_EXIT_SECONDS):
            for pidfd in pidfds:
                while not procfs.exited(pidfd):
                    await anyio.wait_readable(pidfd)
        for pidfd in pidfds:
            with contextlib.suppress(ChildProcessError):
                # WNOHANG: never blocks (the process has exited, or is not ours to wait for).
                if os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG) is not None:  # noqa: ASYNC222
                    reaped += 1
    finally:
        for pidfd in pidfds:
            os.close(pidfd)
    return reaped
