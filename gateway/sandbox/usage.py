"""Resource usage of a live worker, read from the kernel's /proc (never from the worker).

The gateway cannot reap workers itself (asyncio's child watcher does), so it reads
``/proc/<pid>/stat`` and ``status`` while the process is alive: on the result frame, before
every kill, and periodically for workers that die on their own. /proc files of a pid are
written by the kernel only, so reading them is safe from a hostile worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """What one invocation used."""

    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0


@dataclass(frozen=True)
class Sample:
    """One reading of a process's CPU time and peak resident memory."""

    cpu_ms: int
    peak_memory_bytes: int


def sample(pid: int) -> Sample | None:
    """Read a process's CPU (own and reaped children) and VmHWM; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return None
    # Fields after the command name, which may itself contain spaces and parentheses.
    fields = stat[stat.rindex(b")") + 2 :].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    peak_kib = 0
    for line in status.splitlines():
        if line.startswith(b"VmHWM:"):
            peak_kib = int(line.split()[1])
            break
    return Sample(cpu_ms=ticks * 1000 // _TICKS, peak_memory_bytes=peak_kib * 1024)
