"""Adopted orphans from sandboxes are reaped; the gateway's own children never are."""

from __future__ import annotations

import os
import time

from gateway.sandbox import strays
from runner.confine import syscalls


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
        # the PID 1 is adopted by this (subreaper) process, as a sandbox's would be.
        ready_read, ready_write = os.pipe()
        middle = os.fork()
        if middle == 0:
            try:
                syscalls.unshare(syscalls.NAMESPACE_FLAGS["pid"])
                pid1 = os.fork()
                if pid1 == 0:
                    os.read(ready_read, 1)  # exits once told to
                    os._exit(0)
                os.write(ready_write, pid1.to_bytes(4, "big"))
            finally:
                os._exit(0)
        os.waitpid(middle, 0)
        adopted = int.from_bytes(os.read(ready_read, 4), "big")
        assert adopted in strays.children()
        os.write(ready_write, b"x")
        wait_zombie(adopted)
        wait_zombie(own)
        assert strays.reap() == 1
        assert adopted not in strays.children()
        assert own in strays.children(), "a child in the gateway's own namespace is left alone"
        assert os.waitpid(own, 0)[1] >> 8 == 3
    finally:
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0)
