"""Build the sandbox's root filesystem and pivot into it (runs in the sandbox, as PID 1).

The new root is a small tmpfs holding read-only binds of exactly the runtime the worker
needs (the Python installation, the runner, the libraries they load), a size- and
inode-limited /tmp, a minimal /dev and a fresh, read-only /proc of the sandbox's own pid
namespace that shows processes only.
After pivot_root the old root is detached and the new root remounted read-only, so nothing
of the host's filesystem is reachable but what was bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runner.confine import syscalls

#: Where the new root is assembled, in the worker's private mount namespace only.
STAGING = "/tmp"
DEVICES = ("null", "zero", "full", "random", "urandom")
_RO = syscalls.MS_RDONLY | syscalls.MS_NOSUID | syscalls.MS_NODEV
_DEVICE = syscalls.MS_RDONLY | syscalls.MS_NOSUID | syscalls.MS_NOEXEC
_RO_ATTRS = syscalls.MOUNT_ATTR_RDONLY | syscalls.MOUNT_ATTR_NOSUID | syscalls.MOUNT_ATTR_NODEV
#: The installer's output: writable, and noexec since nothing in it may run there.
_RW = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
_RW_ATTRS = syscalls.MOUNT_ATTR_NOSUID | syscalls.MOUNT_ATTR_NODEV | syscalls.MOUNT_ATTR_NOEXEC
#: Where a requirement set is bound (runner.install.SITE).
SITE = "/airlock/site"
# Device binds must not be nodev, or opening them fails; read-only does not stop writing to
# a character device such as /dev/null.
_DEVICE_ATTRS = syscalls.MOUNT_ATTR_RDONLY | syscalls.MOUNT_ATTR_NOSUID | syscalls.MOUNT_ATTR_NOEXEC


@dataclass
class Sources:
    """What will be bound into the new root, prepared while the worker may still read it all.

    As root, each source is a detached, read-only copy of its mount (``open_tree``), made
    before the worker drops to the sandbox uid; the sandbox's user namespace can then be
    created by that uid, which owns it. Without root (an unprivileged gateway), each source
    is an O_PATH descriptor opened inside the new mount namespace and bound from there.
    """

    #: path → (descriptor, is a directory)
    binds: dict[str, tuple[int, bool]]
    #: path → target, for host paths that are symlinks (merged-/usr's /lib -> usr/lib)
    links: dict[str, str]
    devices: dict[str, int]
    detached: bool
    #: Targets bound writable (the installer's SITE), all others read-only.
    writable: frozenset[str] = frozenset()

    @classmethod
    def open(
        cls,
        paths: list[str],
        *,
        detached: bool,
        site: dict[str, object] | None = None,
        elsewhere: dict[str, str] | None = None,
    ) -> Sources:
        """Prepare every existing bind source and device, and the requirement ``site`` if any.

        ``paths`` are bound at the same path; ``elsewhere`` maps a target in the sandbox to
        a host directory bound there (the egress relay's directory at /run/airlock).
        """
        binds: dict[str, tuple[int, bool]] = {}
        links: dict[str, str] = {}
        for path in dict.fromkeys(paths):
            if os.path.islink(path):
                links[path] = os.readlink(path)
            elif os.path.exists(path):
                binds[path] = (cls._prepare(path, _RO_ATTRS, detached), os.path.isdir(path))
        writable: frozenset[str] = frozenset()
        if site is not None:
            # A missing source is an error here, not a silently absent bind: the function
            # would otherwise run without the requirements it was registered with.
            attributes = _RW_ATTRS if site["writable"] else _RO_ATTRS
            binds[SITE] = (cls._prepare(str(site["source"]), attributes, detached), True)
            writable = frozenset({SITE}) if site["writable"] else writable
        for target, source in (elsewhere or {}).items():
            binds[target] = (cls._prepare(source, _RO_ATTRS, detached), True)
        devices = {d: cls._prepare(f"/dev/{d}", _DEVICE_ATTRS, detached) for d in DEVICES}
        return cls(binds, links, devices, detached, writable)

    @staticmethod
    def _prepare(path: str, attributes: int, detached: bool) -> int:
        if detached:
            return syscalls.clone_tree(path, attributes)
        return os.open(path, os.O_PATH | os.O_CLOEXEC)

    def close(self) -> None:
        """Close every descriptor."""
        for fd in (*(fd for fd, _ in self.binds.values()), *self.devices.values()):
            os.close(fd)


def _bind(sources: Sources, fd: int, target: str, *, directory: bool, flags: int = _RO) -> None:
    if directory:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    if sources.detached:
        syscalls.attach_tree(fd, target)  # already read-only and nosuid (and nodev) as made
        return
    # The source goes through the O_PATH descriptor: the sandbox uid may not be allowed to
    # search the original path (e.g. under /root).
    syscalls.mount(f"/proc/self/fd/{fd}", target, None, syscalls.MS_BIND | syscalls.MS_REC)
    syscalls.mount(None, target, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | flags)


def build_root(sources: Sources, tmp_size_mib: int, tmp_inodes: int, files: dict[str, str] | None = None) -> None:
    """Assemble the new root at STAGING and pivot into it.

    ``files`` are written into the root before it turns read-only (the egress sandbox's
    /etc/hosts and /etc/nsswitch.conf).
    """
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    syscalls.mount("tmpfs", STAGING, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "size=4m,nr_inodes=4096,mode=755")
    # /tmp, /dev and /proc first: a runtime installed below /tmp (a checkout in /tmp, say)
    # is then bound on top of the sandbox's /tmp instead of being hidden by it.
    os.makedirs(STAGING + "/tmp")
    syscalls.mount(
        "tmpfs",
        STAGING + "/tmp",
        "tmpfs",
        syscalls.MS_NOSUID | syscalls.MS_NODEV,
        f"size={tmp_size_mib}m,nr_inodes={tmp_inodes},mode=1777",
    )
    _build_dev(sources)
    os.makedirs(STAGING + "/proc")
    # subset=pid: only the sandbox's own processes, no /proc/sys, /proc/cmdline, /proc/net...
    # which would show the host kernel's globals (its boot arguments, boot id, tunables).
    proc_flags = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC | syscalls.MS_RDONLY
    syscalls.mount("proc", STAGING + "/proc", "proc", proc_flags, "subset=pid")
    for path, (fd, directory) in sorted(sources.binds.items()):
        _bind(sources, fd, STAGING + path, directory=directory, flags=_RW if path in sources.writable else _RO)
    for path, target in sources.links.items():
        if not os.path.lexists(STAGING + path):
            os.makedirs(os.path.dirname(STAGING + path), exist_ok=True)
            os.symlink(target, STAGING + path)
    for path, text in (files or {}).items():
        os.makedirs(os.path.dirname(STAGING + path), exist_ok=True)
        with open(STAGING + path, "x", encoding="utf-8") as f:
            f.write(text)
    os.makedirs(STAGING + "/.old")
    os.chdir(STAGING)
    syscalls.pivot_root(".", ".old")
    os.chdir("/")
    syscalls.umount2("/.old", syscalls.MNT_DETACH)
    os.rmdir("/.old")
    syscalls.mount(None, "/", None, syscalls.MS_BIND | syscalls.MS_REMOUNT | _RO)


def _build_dev(sources: Sources) -> None:
    dev = STAGING + "/dev"
    os.makedirs(dev)
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")
    for name, fd in sources.devices.items():
        _bind(sources, fd, f"{dev}/{name}", directory=False, flags=_DEVICE)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{dev}/{name}")
    syscalls.mount(None, dev, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | _DEVICE)
