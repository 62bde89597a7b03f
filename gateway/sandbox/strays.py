"""Reap what the gateway adopts as a child subreaper and nobody else will.

Forked workers are re-parented to the gateway on purpose (runner.zygote). The same flag makes
the gateway adopt any other orphan of its descendants: a sandbox's PID 1 or uid-map helper
whose worker died before reaping it, a zygote's intermediate whose zygote crashed. Those
would stay zombies for the gateway's lifetime. They are recognisable: every process the
gateway starts itself either leads a session of its own (workers, zygotes) or shares the
gateway's session (a plain subprocess), while an adopted orphan belongs to the session of
the worker or zygote that started it. Only those are reaped here, never a child that some
other part of the gateway waits for.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _state_and_session(pid: int) -> tuple[str, int]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may contain spaces and parentheses).
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[3])


def children() -> set[int]:
    """Pids of the main thread's children: the kernel hands adopted orphans to it."""
    pid = os.getpid()
    try:
        return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def reap() -> int:
    """Reap adopted orphans that have exited; how many were reaped."""
    own_session = os.getsid(0)
    reaped = 0
    for pid in children():
        try:
            state, session = _state_and_session(pid)
        except (OSError, ValueError, IndexError):
            continue
        if state == "Z" and session not in (pid, own_session):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped += 1
    return reaped
