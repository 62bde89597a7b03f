"""Enter the sandbox's namespaces as a uid that is not the gateway's (runs in the sandbox).

A root worker drops to the sandbox uid *before* it unshares, so that the new user
namespace is owned by that uid: the per-user quotas the kernel counts up the namespace
chain (queued signals, message queues, inotify...) are then the sandbox's own, not shared
with root. A process cannot map an arbitrary outside uid into a user namespace it just
created; a process with CAP_SETUID in the parent namespace can, so a helper forked while
the worker is still root writes the maps once the worker has unshared. Inside, the sandbox
uid is uid 0, with capabilities in its own namespaces only.

An unprivileged gateway's worker cannot change uid: it unshares as itself, then becomes
uid 0 inside (:func:`become_sandbox_user`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from runner.confine import syscalls


def enter(names: list[str], uid: int, gid: int, request_maps: Callable[[], None]) -> None:
    """Unshare the named namespaces; afterwards uid 0 inside maps to ``uid`` outside.

    ``request_maps`` asks the gateway to write the new user namespace's uid/gid maps and
    returns once it has: a process cannot map an arbitrary outside uid for itself, the
    gateway (with CAP_SETUID where the worker now lacks it) can.
    """
    flags = 0
    for name in names:
        flags |= syscalls.NAMESPACE_FLAGS[name]
    if os.geteuid() == 0:
        # Supplementary groups (root's gid 0 among them) must not survive into the sandbox.
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # Changing credentials made the process non-dumpable, which hides /proc/self from
        # it; the sandbox uid is unique to this invocation, so nobody else can ptrace it.
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 1)
    syscalls.unshare(flags)
    request_maps()


def become_sandbox_user() -> None:
    """Switch to uid/gid 0 inside the user namespace (an unprivileged gateway's path)."""
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    # Changing credentials made the process non-dumpable, which hides /proc/self from it;
    # the sandbox uid is unique to this invocation, so no other process can use ptrace on it.
    syscalls.prctl(syscalls.PR_SET_DUMPABLE, 1)
