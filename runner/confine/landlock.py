"""Landlock: a filesystem allow-list, no TCP, no signals or abstract sockets outside (runs in the sandbox).

Mounts already hide the host; Landlock is the second lock on the same door. Read access
everywhere in the (read-only) new root, write access only below /tmp and to /dev's
character devices. Where the ABI allows, TCP bind/connect is handled with no rule (so
denied) but for connecting to the ports of an egress profile's listeners, and signals
and abstract unix sockets are scoped to the sandbox's own domain.
"""

from __future__ import annotations

import ctypes
import os

from runner.confine import syscalls

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_ABI1_FS = (1 << 13) - 1


def _handled_fs(abi: int) -> int:
    handled = _ABI1_FS
    if abi >= 2:
        handled |= REFER
    if abi >= 3:
        handled |= TRUNCATE
    if abi >= 5:
        handled |= IOCTL_DEV
    return handled


def restrict(*, required: bool, writable: tuple[str, ...] = ("/tmp",), connect_ports: tuple[int, ...] = ()) -> int:
    """Restrict this process; returns the ABI used (0: unavailable and not required).

    ``connect_ports``: TCP ports the process may still connect to (the egress listeners';
    the sandbox's network namespace has nothing else to reach on them). Binding stays denied.
    """
    abi = syscalls.landlock_abi()
    if abi == 0:
        if required:
            raise OSError("Landlock is required by the profile but the kernel does not offer it")
        return 0
    handled = _handled_fs(abi)
    attr = syscalls.LandlockRulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0, 0)
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    size = ctypes.sizeof(attr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = syscalls.landlock_create_ruleset(attr, size)
    try:
        _allow(ruleset, "/", READ_FILE | READ_DIR)
        write = handled & ~(EXECUTE | MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV)
        for path in writable:
            _allow(ruleset, path, write)
        _allow(ruleset, "/dev", READ_FILE | WRITE_FILE | (TRUNCATE if abi >= 3 else 0))
        if abi >= 4:
            for port in sorted(set(connect_ports)):
                syscalls.landlock_add_net_rule(ruleset, port, NET_CONNECT_TCP)
        syscalls.landlock_restrict_self(ruleset)
    finally:
        os.close(ruleset)
    return abi


def _allow(ruleset: int, path: str, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        syscalls.landlock_add_path_rule(ruleset, fd, access)
    finally:
        os.close(fd)
