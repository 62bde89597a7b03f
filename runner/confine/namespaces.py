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

from runner.confine import syscalls


def _write_maps(pid: int, uid: int, gid: int) -> None:
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1\n")
    # setgroups must be denied before an unprivileged gid map; it also stops the sandbox
    # from ever adding groups back.
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1\n")


def enter(names: list[str], uid: int, gid: int) -> None:
    """Unshare the named namespaces; afterwards uid 0 inside maps to ``uid`` outside."""
    flags = 0
    for name in names:
        flags |= syscalls.NAMESPACE_FLAGS[name]
    privileged = os.geteuid() == 0
    ready_read, ready_write = os.pipe()
    worker = os.getpid()
    helper = os.fork()
    if helper == 0:  # the helper: wait for the unshare, write the maps, exit
        code = 1
        try:
            os.close(ready_write)
            if os.read(ready_read, 1) == b"1":
                _write_maps(worker, uid, gid)
                code = 0
        finally:
            os._exit(code)
    os.close(ready_read)
    if privileged:
        # Supplementary groups (root's gid 0 among them) must not survive into the sandbox.
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # Changing credentials made the process non-dumpable, which hides /proc/self from
        # it; the sandbox uid is unique to this invocation, so nobody else can ptrace it.
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 1)
    try:
        syscalls.unshare(flags)
    except BaseException:
        os.write(ready_write, b"0")
        raise
    os.write(ready_write, b"1")
    os.close(ready_write)
    _, status = os.waitpid(helper, 0)
    if status != 0:
        raise OSError("the uid/gid maps of the sandbox could not be written")


def become_sandbox_user() -> None:
    """Switch to uid/gid 0 inside the user namespace (an unprivileged gateway's path)."""
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    # Changing credentials made the process non-dumpable, which hides /proc/self from it;
    # the sandbox uid is unique to this invocation, so no other process can use ptrace on it.
    syscalls.prctl(syscalls.PR_SET_DUMPABLE, 1)
