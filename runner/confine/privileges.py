"""Drop every capability and set no_new_privs (runs in the sandbox).

There is no execve after confinement to reset capabilities, so all three sets are emptied
explicitly: the bounding set (nothing can be regained), the ambient set, and the
effective/permitted/inheritable sets with capset(2). no_new_privs makes setuid binaries and
file capabilities inert and is what lets an unprivileged process install seccomp.
"""

from __future__ import annotations

import errno

from runner.confine import syscalls


def drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets."""
    for cap in range(syscalls.LAST_CAP + 1):
        try:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: past the kernel's last capability
                raise
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    syscalls.clear_capabilities()


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1)."""
    syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
