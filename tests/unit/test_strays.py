"""Adopted orphans from sandboxes are reaped; the gateway's own children never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gateway.sandbox import strays
from runner.confine import syscalls

#: Unshares a pid namespace, forks its PID 1 (which waits for a byte on stdin), prints
#: that PID 1's pid as this namespace sees it, and exits.
MIDDLE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID
    raise OSError(ctypes.get_errno(), "unshare")
pid1 = os.fork()
if pid1 == 0:
    os.close(1)
    os.read(0, 1)
    os._exit(0)
print(pid1, flush=True)
"""


def wait_zombie(pid: int) -> None:
    for _ in range(500):
        if strays._zombie_depth(pid)[0]:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} did not exit")


def test_only_zombies_from_deeper_pid_namespaces_are_reaped() -> None:
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    try:
        # A plain child of ours that exits: someone else's to reap (like a zygote's status
        # that asyncio waits for).
        own = os.fork()
        if own == 0:
            os._exit(3)
        # A middle process that unshares a pid namespace, forks its PID 1 and dies first:
        # the PID 1 is adopted by this (subreaper) process, as a sandbox's would be. The
        # middle is a fresh interpreter, not a fork of this one: after unshare(CLONE_NEWPID)
        # a process cannot create threads (EINVAL), and grpc's fork handlers, inherited by a
        # forked pytest, would try to restart grpc's threads around the second fork.
        middle = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", MIDDLE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert middle.stdout is not None
        assert middle.stdin is not None
        adopted = int(middle.stdout.readline())
        middle.stdout.close()
        assert middle.wait(10) == 0
        assert adopted in strays.children()
        middle.stdin.write(b"x")  # PID 1 exits once told to
        middle.stdin.close()
        wait_zombie(adopted)
        wait_zombie(own)
        assert strays.reap() == 1
        assert adopted not in strays.children()
        assert own in strays.children(), "a child in the gateway's own namespace is left alone"
        assert os.waitpid(own, 0)[1] >> 8 == 3
    finally:
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0)
