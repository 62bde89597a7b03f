"""Resource limits a worker applies to itself before it reads any job (runs in the sandbox).

The gateway never forks (grpcio is not fork-safe), so it cannot use ``preexec_fn``; the
worker lowers its own limits first thing instead. Soft equals hard everywhere except CPU,
where the soft limit sends SIGXCPU one second before the hard limit's SIGKILL so that a CPU
overrun is distinguishable from any other kill.
"""

from __future__ import annotations

import resource
from typing import Any

MIB = 1024 * 1024
#: Queued real-time signals the sandbox may hold at once.
SIGPENDING = 64


def apply(limits: dict[str, Any]) -> None:
    """Apply the limits named in ``limits`` (see gateway.profiles.model.Profile)."""
    _set(resource.RLIMIT_CORE, 0)
    _set(resource.RLIMIT_AS, int(limits["address_space_mib"]) * MIB)
    _set(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    _set(resource.RLIMIT_FSIZE, int(limits["file_size_mib"]) * MIB)
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # Counted per user up the user-namespace chain, i.e. shared with the gateway's user:
    # keep the sandbox's share of those kernel-wide quotas tiny.
    _set(resource.RLIMIT_SIGPENDING, SIGPENDING)
    _set(resource.RLIMIT_MSGQUEUE, 0)
    _set(resource.RLIMIT_MEMLOCK, 0)


def _set(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))
