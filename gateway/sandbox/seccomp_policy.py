"""Seccomp programs, compiled once per profile in the gateway (pyseccomp → BPF bytes).

The worker installs the bytes with one prctl, after every other confinement step (its own
steps need mount, unshare and prctl, which these programs forbid). Compiling in the gateway
keeps libseccomp out of the sandbox and costs the worker 0.35 ms instead of 2.5 ms.

Two policies:

* ``deny-list``: everything not listed is allowed; the kernel surfaces a plugin could use
  to escape or to attack the host are refused with EPERM;
* ``allow-list``: only what CPython, asyncio, threads and pydantic need is allowed; any other
  syscall fails with EPERM.

Both refuse: exec of anything, new namespaces, the mount APIs, ptrace and cross-process
memory access, bpf, perf, userfaultfd, io_uring, keyrings, handle-based opens, device
nodes, personality changes, new seccomp filters, TIOCSTI, and sockets beyond AF_UNIX (plus
AF_INET/AF_INET6 for profiles with network). ``clone3`` fails with ENOSYS so that libc
falls back to ``clone``, whose flags a filter can inspect.

With network (``network = "egress"``), AF_INET/AF_INET6 sockets are TCP or UDP only: raw
and packet types, SCTP, MPTCP, ICMP "ping" sockets and any other protocol fail with EPERM,
so that the kernel's less travelled protocol code stays out of reach. UDP is harmless
there: the sandbox's network namespace has only its loopback, nothing listens on UDP, no
resolver is configured (names come from /etc/hosts), and any other destination is
unreachable (ENETUNREACH).
"""

from __future__ import annotations

import errno
import socket
import tempfile
from collections.abc import Iterable

import pyseccomp as sc

#: Never allowed, under either policy.
DENIED = (
    "execve", "execveat",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "open_by_handle_at", "name_to_handle_at",
    "mknod", "mknodat",
    "personality", "seccomp",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "uselib", "lookup_dcookie", "nfsservctl",
    "sethostname", "setdomainname",
    # inotify instances are a per-user quota (128) shared with the gateway's user.
    "inotify_init", "inotify_init1", "fanotify_init", "modify_ldt", "process_madvise",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
)  # fmt: skip

#: What CPython with asyncio, threads and pydantic-core uses (the allow-list policy).
ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "open", "openat", "openat2", "close", "close_range", "lseek", "dup", "dup2", "dup3",
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
    "getdents64", "getcwd", "chdir", "fchdir", "readlink", "readlinkat",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "umask",
    "truncate", "ftruncate", "fsync", "fdatasync", "flock", "fcntl", "utimensat", "fadvise64",
    "copy_file_range", "sendfile", "pipe", "pipe2", "memfd_create", "ioctl",
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync", "mincore", "membarrier",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
    "sigaltstack", "kill", "tgkill", "tkill", "pause",
    "clone", "clone3", "fork", "vfork", "exit", "exit_group", "wait4", "waitid",
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
    "arch_prctl", "prctl", "restart_syscall",
    "getpid", "gettid", "getppid", "getpgrp", "getpgid", "getsid", "setsid", "setpgid",
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "capget", "getrlimit", "prlimit64", "setrlimit", "getrusage", "times", "sysinfo", "uname",
    "getpriority", "setpriority", "sched_yield", "sched_getaffinity", "sched_setaffinity",
    "sched_getparam", "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getrandom", "select", "pselect6", "poll", "ppoll",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4",
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown",
    "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "getsockname", "getpeername", "setsockopt", "getsockopt",
    "alarm", "setitimer", "getitimer", "timer_create", "timer_settime", "timer_gettime", "timer_delete",
    "timer_getoverrun", "get_mempolicy", "mlock", "munlock",
)  # fmt: skip

TIOCSTI = 0x5412
#: Syscalls numbered from here on are newer than this policy (Linux 6.4+: listmount,
#: statmount, mseal, lsm_*, ...). A deny-list would allow them by default; they fail with
#: ENOSYS instead, what an older kernel says, until someone has reviewed them.
FIRST_UNREVIEWED_SYSCALL = 452
_SYSCALL_NUMBER_LIMIT = 512  # x86_64 is at ~470 in Linux 6.18
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_NEW_NAMESPACES = sum(_NAMESPACE_FLAGS)  # every CLONE_NEW* flag


def _families(network: bool) -> set[int]:
    families: set[int] = {socket.AF_UNIX}
    if network:
        families |= {socket.AF_INET, socket.AF_INET6}
    return families


#: One past the highest address family Linux defines (AF_MCTP = 45).
_AF_LIMIT = 46
_SOCK_TYPE_MASK = 0xF  # the type without SOCK_NONBLOCK / SOCK_CLOEXEC
#: Inet socket (type, protocol) pairs allowed with network: TCP and UDP, protocol 0 or explicit.
_INET_KINDS = (
    (socket.SOCK_STREAM, 0),
    (socket.SOCK_STREAM, socket.IPPROTO_TCP),
    (socket.SOCK_DGRAM, 0),
    (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
)


def _refuse_other_inet_kinds(f: sc.SyscallFilter) -> None:
    """Deny-list: every inet socket but TCP and UDP fails with EPERM."""
    types = {kind for kind, _ in _INET_KINDS}
    protocols = {proto for _, proto in _INET_KINDS}
    for family in (socket.AF_INET, socket.AF_INET6):
        for kind in range(_SOCK_TYPE_MASK + 1):
            if kind not in types:
                f.add_rule(
                    sc.ERRNO(errno.EPERM),
                    "socket",
                    sc.Arg(0, sc.EQ, family),
                    sc.Arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, kind),
                )
        for proto in range(max(protocols) + 1):
            if proto not in protocols:
                f.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.EQ, family), sc.Arg(2, sc.EQ, proto))
        f.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.EQ, family), sc.Arg(2, sc.GT, max(protocols)))


def _refuse_other_families(f: sc.SyscallFilter, network: bool) -> None:
    """Every family but the allowed ones fails with EAFNOSUPPORT (what a kernel without it says)."""
    allowed = _families(network)
    for call in ("socket", "socketpair"):
        for family in range(_AF_LIMIT):
            if family not in allowed:
                f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), call, sc.Arg(0, sc.EQ, family))
        f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), call, sc.Arg(0, sc.GE, _AF_LIMIT))


def compile_bpf(policy: str, *, network: bool, extra_denied: Iterable[str] = ()) -> bytes:
    """The BPF program for a profile: ``policy`` is "deny-list" or "allow-list"."""
    denied = set(DENIED) | set(extra_denied)
    if policy == "deny-list":
        f = sc.SyscallFilter(sc.ALLOW)
    elif policy == "allow-list":
        f = sc.SyscallFilter(sc.ERRNO(errno.EPERM))
        for name in set(ALLOWED) - denied - {"clone3", "socket", "socketpair", "ioctl", "clone", "prctl"}:
            f.add_rule(sc.ALLOW, name)
        f.add_rule(sc.ALLOW, "ioctl", sc.Arg(1, sc.NE, TIOCSTI))
        f.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, _NEW_NAMESPACES, 0))
        f.add_rule(sc.ALLOW, "socket", sc.Arg(0, sc.EQ, socket.AF_UNIX))
        f.add_rule(sc.ALLOW, "socketpair", sc.Arg(0, sc.EQ, socket.AF_UNIX))
        for family in _families(network) - {socket.AF_UNIX}:
            for kind, proto in _INET_KINDS:
                f.add_rule(
                    sc.ALLOW,
                    "socket",
                    sc.Arg(0, sc.EQ, family),
                    sc.Arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, kind),
                    sc.Arg(2, sc.EQ, proto),
                )
        # prctl: everything but installing seccomp filters (PR_SET_SECCOMP = 22).
        f.add_rule(sc.ALLOW, "prctl", sc.Arg(0, sc.NE, 22))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        _refuse_other_families(f, network)
        return _export(f)
    else:
        raise ValueError(f"unknown seccomp policy {policy!r}")
    for name in sorted(denied):
        f.add_rule(sc.ERRNO(errno.EPERM), name)
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in _NAMESPACE_FLAGS:
        f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.EQ, TIOCSTI))
    f.add_rule(sc.ERRNO(errno.EPERM), "prctl", sc.Arg(0, sc.EQ, 22))
    for number in range(FIRST_UNREVIEWED_SYSCALL, _SYSCALL_NUMBER_LIMIT):
        f.add_rule(sc.ERRNO(errno.ENOSYS), number)
    _refuse_other_families(f, network)
    if network:
        _refuse_other_inet_kinds(f)
    return _export(f)


def _export(f: sc.SyscallFilter) -> bytes:
    # A syscall made through another ABI (int 0x80, x32) kills the whole process, not just
    # the calling thread: an attempt to dodge the filter ends the sandbox at once.
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()
