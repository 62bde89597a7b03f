"""
title: Escalate
description: threat probe: privileges and the kernel's attack surface; body["attack"] picks the attack
"""

import ctypes
import errno
import fcntl
import mmap
import os
import resource
import struct
import subprocess
import termios
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


SYS_CLONE = 56
SYS_CAPSET = 126
SYS_IOPRIO_SET = 251
SYS_SECCOMP = 317
SYS_EXECVEAT = 322
SYS_CLONE3 = 435
AT_EMPTY_PATH = 0x1000
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
CAP_SYS_ADMIN = 21
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def last_errno(result):
    return errno.errorcode[ctypes.get_errno()] if result < 0 else "OK"


def argument(spec):
    """An argument of a raw syscall: int, string, {"buffer": size} or {"fd": path}."""
    if isinstance(spec, int):
        return ctypes.c_long(spec)
    if isinstance(spec, str):
        return ctypes.c_char_p(spec.encode())
    if "buffer" in spec:
        return ctypes.create_string_buffer(spec["buffer"])
    return ctypes.c_long(os.open(spec["fd"], os.O_RDONLY))


def syscall(body):
    """Any syscall by number; should one create a child, that child leaves at once."""
    args = [argument(a) for a in body.get("args", [])]
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(body["number"]), *args)
    if result == 0 and os.getpid() != body["parent"]:
        os._exit(0)
    return last_errno(result)


def syscalls(body):
    """Many syscalls in one invocation: name -> what each returned."""
    return {name: syscall(call | {"parent": body["parent"]}) for name, call in body["calls"].items()}


def status(body):
    wanted = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in wanted:
                found[key] = value.split()
    return found


RLIMITS = {
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE,
    "RLIMIT_AS": resource.RLIMIT_AS,
    "RLIMIT_CPU": resource.RLIMIT_CPU,
    "RLIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "RLIMIT_CORE": resource.RLIMIT_CORE,
}


def raise_rlimit(body):
    which = RLIMITS[body["resource"]]
    soft, hard = resource.getrlimit(which)
    try:
        resource.setrlimit(which, (hard + 1, hard + 1))
    except (ValueError, OSError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "limits": list(resource.getrlimit(which))}
    return {"error": None, "limits": list(resource.getrlimit(which))}


def change_ids(body):
    outcome = {}
    for name, call in (
        ("setuid(0)", lambda: os.setuid(0)),
        ("setgid(0)", lambda: os.setgid(0)),
        ("setuid(1000)", lambda: os.setuid(1000)),
        ("setresuid(65534)", lambda: os.setresuid(65534, 65534, 65534)),
        ("setgroups([0])", lambda: os.setgroups([0])),
    ):
        try:
            call()
            outcome[name] = "OK"
        except OSError as exc:
            outcome[name] = errname(exc)
    outcome["status"] = status(body)
    return outcome


def interpreter():
    """The interpreter binary as the sandbox sees it (bound read-only with the runtime)."""
    return os.readlink("/proc/self/exe")


def execv(body):
    path = interpreter() if body["path"] == "python" else body["path"]
    try:
        os.execv(path, [path, "-c", "pass"])  # noqa: S606 - the attack under test
    except OSError as exc:
        return {"path exists": os.path.exists(path), "errno": errname(exc)}


def run_subprocess(body):
    try:
        subprocess.run([body["path"]], check=False)  # noqa: S603 - the attack under test
    except OSError as exc:
        return {"exception": type(exc).__name__, "errno": errname(exc)}
    return "ran"


def posix_spawn(body):
    try:
        os.posix_spawn(interpreter(), [interpreter(), "-c", "pass"], {})
    except OSError as exc:
        return errname(exc)
    return "spawned"


def memfd_exec(body):
    """Copy the interpreter into an anonymous file and execute that: fexecve, then execveat."""
    fd = os.memfd_create("payload", 0)
    with open(interpreter(), "rb") as exe:
        os.write(fd, exe.read())
    outcome = {}
    try:
        os.execve(fd, ["payload", "-c", "pass"], {})
    except OSError as exc:
        outcome["fexecve"] = errname(exc)
    argv = (ctypes.c_char_p * 2)(b"payload", None)
    envp = (ctypes.c_char_p * 1)(None)
    ctypes.set_errno(0)
    result = libc.syscall(
        ctypes.c_long(SYS_EXECVEAT), ctypes.c_long(fd), ctypes.c_char_p(b""), argv, envp, ctypes.c_long(AT_EMPTY_PATH)
    )
    outcome["execveat"] = last_errno(result)
    return outcome


def clone_new_user(body):
    parent = os.getpid()
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_long(CLONE_NEWUSER | SIGCHLD), None, None, None, None)
    if result == 0 and os.getpid() != parent:
        os._exit(0)
    return last_errno(result)


def clone3(body):
    parent = os.getpid()
    args = ctypes.create_string_buffer(struct.pack("=11Q", 0, 0, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, 0))
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(SYS_CLONE3), args, ctypes.c_long(len(args.raw)))
    if result == 0 and os.getpid() != parent:
        os._exit(0)
    return last_errno(result)


def other_abi_syscall(abi, number, arg):
    """A syscall through another ABI than x86_64's, with that ABI's number.

    x32: the x86_64 instruction with bit 30 set in the number. i386: ``int 0x80`` from native
    code (mov eax, number; mov ebx, arg; int 0x80; ret).
    """
    if abi == "x32":
        ctypes.set_errno(0)
        return last_errno(libc.syscall(ctypes.c_long(0x40000000 | number), ctypes.c_long(arg)))
    code = b"\xb8" + struct.pack("<I", number) + b"\xbb" + struct.pack("<I", arg) + b"\xcd\x80\xc3"
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    result = ctypes.CFUNCTYPE(ctypes.c_int)(address)()
    return "OK" if result >= 0 else errno.errorcode.get(-result, str(result))


def other_abi(body):
    """Make the call on a thread of its own and report whether that thread survived it."""
    if not body.get("in_thread", True):
        return other_abi_syscall(body["abi"], body["number"], body["arg"])
    outcome = {}

    def call():
        outcome["tid"] = threading.get_native_id()
        outcome["returned"] = other_abi_syscall(body["abi"], body["number"], body["arg"])

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=0.3)  # a thread the kernel killed never says it finished
    return {"returned": outcome.get("returned"), "thread exists": os.path.exists(f"/proc/self/task/{outcome['tid']}")}


def allow_all_filter():
    """A one-instruction seccomp program that allows everything (harmless if it were installed)."""
    instruction = ctypes.create_string_buffer(struct.pack("=HBBI", 0x06, 0, 0, SECCOMP_RET_ALLOW))
    program = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", 1, ctypes.addressof(instruction)))
    return instruction, program


def new_seccomp_filter(body):
    instruction, program = allow_all_filter()
    ctypes.set_errno(0)
    via_syscall = libc.syscall(
        ctypes.c_long(SYS_SECCOMP), ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(0), program
    )
    syscall_errno = last_errno(via_syscall)
    ctypes.set_errno(0)
    via_prctl = libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), program, None, None)
    return {"seccomp()": syscall_errno, "prctl(PR_SET_SECCOMP)": last_errno(via_prctl)}


def prctl(body):
    args = [ctypes.c_ulong(a) for a in body["args"]]
    ctypes.set_errno(0)
    return last_errno(libc.prctl(ctypes.c_int(body["option"]), *args))


def raise_capabilities(body):
    header = ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(struct.pack("=6I", *([0xFFFFFFFF] * 6)))
    ctypes.set_errno(0)
    return last_errno(libc.syscall(ctypes.c_long(SYS_CAPSET), header, data))


def priority(body):
    """Claim the CPU or the disk ahead of the host: real-time scheduling, nice -20, RT I/O class."""
    outcome = {}
    for name, call in (
        ("SCHED_FIFO", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))),
        ("SCHED_RR", lambda: os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))),
        ("nice -20", lambda: os.setpriority(os.PRIO_PROCESS, 0, -20)),
    ):
        try:
            call()
            outcome[name] = "OK"
        except OSError as exc:
            outcome[name] = errname(exc)
    ctypes.set_errno(0)
    # ioprio_set(IOPRIO_WHO_PROCESS, self, class RT << 13 | level 0)
    result = libc.syscall(ctypes.c_long(SYS_IOPRIO_SET), ctypes.c_long(1), ctypes.c_long(0), ctypes.c_long(1 << 13))
    outcome["ioprio RT"] = last_errno(result)
    return outcome


def tiocsti(body):
    """Push a character into the input of the terminal on fd 0 (a classic sandbox escape)."""
    try:
        fcntl.ioctl(body.get("fd", 0), termios.TIOCSTI, b"x")
    except OSError as exc:
        return errname(exc)
    return "OK"


def mknod(body):
    try:
        os.mknod(body["path"], body["mode"], os.makedev(body["major"], body["minor"]))
    except OSError as exc:
        return errname(exc)
    return "OK"


def chroot(body):
    try:
        os.chroot(body["path"])
    except OSError as exc:
        return errname(exc)
    return "OK"


ATTACKS = {f.__name__: f for f in (
    syscall, syscalls, status, raise_rlimit, change_ids, execv, run_subprocess, posix_spawn, memfd_exec, clone_new_user,
    clone3, other_abi, new_seccomp_filter, prctl, raise_capabilities, priority, tiocsti, mknod, chroot,
)}  # fmt: skip


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        return ATTACKS[body["attack"]](body | {"parent": os.getpid()})
