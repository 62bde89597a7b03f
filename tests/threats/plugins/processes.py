"""
title: Host processes
description: threat probe: other processes; body["attack"] picks the attack
"""

import ctypes
import errno
import os
import signal
import time

libc = ctypes.CDLL(None, use_errno=True)


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


SYS_PTRACE = 101
SYS_PROCESS_VM_READV = 310
SYS_PROCESS_VM_WRITEV = 311
SYS_PIDFD_OPEN = 434
PTRACE_TRACEME = 0
PTRACE_ATTACH = 16
PTRACE_SEIZE = 0x4206


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def raw(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    if result < 0:
        return errno.errorcode[ctypes.get_errno()]
    return "OK"


def ending(status):
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.WEXITSTATUS(status)}"


def pids(body):
    return sorted((entry for entry in os.listdir("/proc") if entry.isdigit()), key=int)


def kill(body):
    try:
        os.kill(body["pid"], body["signal"])
    except OSError as exc:
        return errname(exc)
    return "OK"


def kill_everything(body):
    """kill(-1, SIGKILL): everything this process may signal, except itself and init."""
    child = os.fork()
    if child == 0:
        try:
            time.sleep(3600)
        finally:
            os._exit(0)
    try:
        os.kill(-1, signal.SIGKILL)
        sent = "OK"
    except OSError as exc:
        sent = errname(exc)
    _, status = os.waitpid(child, 0)
    return {"kill": sent, "child": ending(status), "pid 1 alive": os.path.exists("/proc/1")}


def kill_process_group(body):
    """kill(0, sig) reaches the whole process group, which began outside the sandbox."""
    signal.signal(body["signal"], signal.SIG_IGN)
    try:
        os.kill(0, body["signal"])
    except OSError as exc:
        return errname(exc)
    # Had the signal reached the worker outside, its death would take this sandbox down now.
    time.sleep(0.3)
    return "OK"


def ptrace(body):
    if body["request"] == "traceme":
        return raw(SYS_PTRACE, PTRACE_TRACEME, 0, 0, 0)
    request = PTRACE_ATTACH if body["request"] == "attach" else PTRACE_SEIZE
    return raw(SYS_PTRACE, request, body["pid"], 0, 0)


class IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


def process_vm(body):
    """Read (or write) 64 bytes of another process's memory.

    PID 2 was forked from PID 1, so the ``os`` module object (imported before that fork)
    is at the same address in both.
    """
    buffer = ctypes.create_string_buffer(64)
    local = IoVec(ctypes.cast(buffer, ctypes.c_void_p), 64)
    remote = IoVec(id(os), 64)
    number = SYS_PROCESS_VM_READV if body["direction"] == "read" else SYS_PROCESS_VM_WRITEV
    ctypes.set_errno(0)
    result = libc.syscall(
        ctypes.c_long(number),
        ctypes.c_long(body["pid"]),
        ctypes.byref(local),
        ctypes.c_long(1),
        ctypes.byref(remote),
        ctypes.c_long(1),
        ctypes.c_long(0),
    )
    return errno.errorcode[ctypes.get_errno()] if result < 0 else "OK"


def pidfd_open(body):
    return raw(SYS_PIDFD_OPEN, body["pid"], 0)


async def signal_pids_from_the_host(body, call):
    """Ask the host which pids to attack (another sandbox's host pids), then SIGKILL them."""
    targets = await call({"type": "targets", "data": {}})
    return {str(pid): kill({"pid": pid, "signal": signal.SIGKILL}) for pid in targets}


ATTACKS = {f.__name__: f for f in (pids, kill, kill_everything, kill_process_group, ptrace, process_vm, pidfd_open)}


class Action:
    async def action(self, body, __event_emitter__=None, __event_call__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        if body["attack"] == "signal_pids_from_the_host":
            return await signal_pids_from_the_host(body, __event_call__)
        if body["attack"] == "victim":
            # Stay alive, in the middle of an invocation, until the host answers.
            return await __event_call__({"type": "hold", "data": {}})
        return ATTACKS[body["attack"]](body)
