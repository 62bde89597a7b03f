"""Thin ctypes bindings for the syscalls Python 3.11 does not expose (runs in the sandbox).

Every wrapper raises OSError with the errno on failure, so a confinement step that the
kernel refuses stops the worker before any plugin code runs.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 syscall numbers (Airlock's supported architecture).
SYS_PIVOT_ROOT: Final = 155
SYS_CAPSET: Final = 126
SYS_LANDLOCK_CREATE_RULESET: Final = 444
SYS_LANDLOCK_ADD_RULE: Final = 445
SYS_LANDLOCK_RESTRICT_SELF: Final = 446

CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000
NAMESPACE_FLAGS: Final = {
    "user": CLONE_NEWUSER,
    "mount": CLONE_NEWNS,
    "net": CLONE_NEWNET,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "cgroup": CLONE_NEWCGROUP,
    "pid": CLONE_NEWPID,
}

MS_RDONLY: Final = 1
MS_NOSUID: Final = 2
MS_NODEV: Final = 4
MS_NOEXEC: Final = 8
MS_REMOUNT: Final = 32
MS_BIND: Final = 4096
MS_REC: Final = 16384
MS_PRIVATE: Final = 1 << 18
MNT_DETACH: Final = 2

PR_SET_PDEATHSIG: Final = 1
PR_SET_DUMPABLE: Final = 4
PR_CAPBSET_DROP: Final = 24
PR_SET_NO_NEW_PRIVS: Final = 38
PR_SET_CHILD_SUBREAPER: Final = 36
PR_GET_NO_NEW_PRIVS: Final = 39
PR_SET_SECCOMP: Final = 22
PR_CAP_AMBIENT: Final = 47
PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
SECCOMP_MODE_FILTER: Final = 2
LAST_CAP: Final = 63  # the kernel rejects numbers past its own last cap with EINVAL


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _path(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def unshare(flags: int) -> None:
    """Call the unshare syscall."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """Call the mount syscall."""
    _check(
        _libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags), _path(data)),
        f"mount {target}",
    )


def umount2(target: str, flags: int) -> None:
    """Call the umount2 syscall."""
    _check(_libc.umount2(_path(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """Call the pivot_root syscall."""
    _check(_libc.syscall(SYS_PIVOT_ROOT, _path(new_root), _path(put_old)), "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Call the prctl syscall with integer arguments."""
    args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
    return _check(_libc.prctl(ctypes.c_int(option), *args), f"prctl({option})")


def sethostname(name: str) -> None:
    """Call the sethostname syscall."""
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (capset(2), version 3)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)), "capset")


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def install_seccomp(bpf: bytes) -> None:
    """Install a compiled BPF program as this thread group's seccomp filter."""
    count = len(bpf) // ctypes.sizeof(_SockFilter)
    if count == 0 or count * ctypes.sizeof(_SockFilter) != len(bpf):
        raise ValueError("seccomp program is not a whole number of BPF instructions")
    program = (_SockFilter * count).from_buffer_copy(bpf)
    fprog = _SockFprog(count, ctypes.cast(program, ctypes.POINTER(_SockFilter)))
    # TSYNC is not needed: the worker is single-threaded at this point.
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    result = int(_libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    return max(result, 0)


class LandlockRulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr (ABI 6 layout)."""

    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class LandlockPathBeneathAttr(ctypes.Structure):
    """struct landlock_path_beneath_attr (packed)."""

    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def landlock_create_ruleset(attr: LandlockRulesetAttr, size: int) -> int:
    """Call the landlock_create_ruleset syscall; returns the ruleset fd."""
    return _check(
        _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )


def landlock_add_path_rule(ruleset_fd: int, path_fd: int, access: int) -> None:
    """landlock_add_rule(2) for a path-beneath rule."""
    rule = LandlockPathBeneathAttr(access, path_fd)
    _check(
        _libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(1), ctypes.byref(rule), 0),
        "landlock_add_rule",
    )


class LandlockNetPortAttr(ctypes.Structure):
    """struct landlock_net_port_attr (packed; ABI 4)."""

    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


def landlock_add_net_rule(ruleset_fd: int, port: int, access: int) -> None:
    """landlock_add_rule(2) for a TCP port rule (LANDLOCK_RULE_NET_PORT)."""
    rule = LandlockNetPortAttr(access, port)
    _check(
        _libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(2), ctypes.byref(rule), 0),
        "landlock_add_rule",
    )


def landlock_restrict_self(ruleset_fd: int) -> None:
    """Call the landlock_restrict_self syscall."""
    _check(
        _libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)),
        "landlock_restrict_self",
    )


OPEN_TREE_CLONE: Final = 1
OPEN_TREE_CLOEXEC: Final = 0o2000000
AT_FDCWD: Final = -100
AT_EMPTY_PATH: Final = 0x1000
AT_RECURSIVE: Final = 0x8000
MOVE_MOUNT_F_EMPTY_PATH: Final = 0x4
MOUNT_ATTR_RDONLY: Final = 0x1
MOUNT_ATTR_NOSUID: Final = 0x2
MOUNT_ATTR_NODEV: Final = 0x4
MOUNT_ATTR_NOEXEC: Final = 0x8
SYS_OPEN_TREE: Final = 428
SYS_MOVE_MOUNT: Final = 429
SYS_MOUNT_SETATTR: Final = 442


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def clone_tree(path: str, attributes: int) -> int:
    """A detached, recursive copy of the mount at ``path`` with ``attributes`` set (an fd).

    The copy lives in no mount namespace until it is moved into one, so it can be made by
    a privileged process and attached later by one that could not even look ``path`` up.
    """
    fd = _check(
        _libc.syscall(
            SYS_OPEN_TREE,
            ctypes.c_int(AT_FDCWD),
            _path(path),
            ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE),
        ),
        f"open_tree {path}",
    )
    attr = _MountAttr(attributes, 0, 0, 0)
    _check(
        _libc.syscall(
            SYS_MOUNT_SETATTR,
            ctypes.c_int(fd),
            b"",
            ctypes.c_uint(AT_EMPTY_PATH | AT_RECURSIVE),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        f"mount_setattr {path}",
    )
    return fd


def attach_tree(tree_fd: int, target: str) -> None:
    """Attach a detached mount (from clone_tree) at ``target``."""
    _check(
        _libc.syscall(
            SYS_MOVE_MOUNT,
            ctypes.c_int(tree_fd),
            b"",
            ctypes.c_int(AT_FDCWD),
            _path(target),
            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
        ),
        f"move_mount {target}",
    )
