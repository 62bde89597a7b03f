"""Readers of /proc and pidfds shared by the code that supervises sandboxes."""

from __future__ import annotations

import select
from pathlib import Path


def stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, ...

    The command name is skipped up to its last ``)``: it may hold spaces and parentheses.
    """
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rindex(b")") + 2 :].decode().split()


def children(pid: int) -> list[int]:
    """Pids of the children of ``pid``'s main thread (none if it is gone)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def exited(pidfd: int) -> bool:
    """Whether the process behind ``pidfd`` has exited (a pidfd turns readable then)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))
