"""Reap what the gateway adopts as a child subreaper and nobody else will.

Forked workers are re-parented to the gateway on purpose (runner.zygote). The same flag makes
the gateway adopt any other orphan of its descendants, above all a sandbox's PID 1 whose
worker died before reaping it; it would stay a zombie for the gateway's lifetime. Those
are recognisable: they live in a pid namespace below the gateway's, where the gateway never
starts a process itself (its zygotes, workers and subprocesses all share its namespace), so
reaping them can never take an exit status some other part of the gateway waits for.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gateway.sandbox import procfs


def _zombie(pid: int) -> bool:
    return procfs.stat_fields(pid)[0] == "Z"


def _depth(pid: int) -> int:
    """How many pid namespaces deep ``pid`` lives."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return len(line.split()) - 1
    raise ValueError(f"no NSpid for {pid}")


def _zombie_depth(pid: int) -> tuple[bool, int]:
    """Whether ``pid`` is a zombie, and how many pid namespaces deep it lives."""
    return _zombie(pid), _depth(pid)


def children() -> set[int]:
    """Pids of the main thread's children: the kernel hands adopted orphans to it."""
    return set(procfs.children(os.getpid()))


def reap() -> int:
    """Reap adopted orphans from sandboxes that have exited; how many were reaped."""
    reaped = 0
    own_depth: int | None = None
    for pid in children():
        try:
            if not _zombie(pid):
                continue
            own_depth = _depth(os.getpid()) if own_depth is None else own_depth
            deeper = _depth(pid) > own_depth
        except (OSError, ValueError, IndexError):
            continue
        if deeper:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped += 1
    return reaped
