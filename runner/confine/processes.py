"""The three processes of a sandbox (runs in the sandbox).

    worker (spawned by the gateway)      waits, then exits the way the plugin did
      └─ PID 1 of the new pid namespace  builds the root, reaps every orphan
           └─ PID 2                      confines itself fully and runs the one invocation

When PID 1 exits, the kernel kills everything left in the namespace: a plugin cannot leave
a daemon behind. Both the worker and PID 1 ask for SIGKILL when their parent dies, so a
gateway killed with -9 takes its sandboxes with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import NoReturn

from runner.confine import syscalls


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent dies (and now, if it already has)."""
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:  # the parent died before the request took effect
        os._exit(1)


def _die_by(signum: int) -> None:
    """Die by ``signum`` (SIGKILL and SIGSTOP have no handler to reset)."""
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _quiet() -> None:
    """Hold no descriptor of the gateway's.

    Only PID 2 may talk to the gateway, and the gateway sees the channel close when PID 2
    is gone. The captured output goes too: the worker and PID 1 have reported any failure
    of theirs there before they get here, and the gateway reads the sandbox's output to
    its end as soon as PID 2 and its descendants are gone, without waiting for the
    kernel to tear the sandbox's namespaces down.
    """
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.closerange(3, 65536)


def wait_and_relay(child: int) -> NoReturn:
    """The worker after forking PID 1: hold no channel, wait, exit like PID 2 did."""
    try:
        _quiet()
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        if code > 128:  # PID 1 reports PID 2's signal as 128 + signal number
            _die_by(code - 128)
        elif code < 0:  # PID 1 itself was killed
            _die_by(-code)
        os._exit(code)
    finally:
        os._exit(1)  # never return into the runner: only PID 2 does


def reap_until(child: int) -> NoReturn:
    """PID 1: reap every process until PID 2 ends, then exit like it (killing the rest)."""
    try:
        _quiet()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                # PID 1 of a pid namespace cannot kill itself with a signal, so a signal
                # death of PID 2 is passed on as 128 + signal number.
                code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status)
                os._exit(code)
    finally:
        os._exit(1)
