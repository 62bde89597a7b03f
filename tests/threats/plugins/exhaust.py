"""
title: Exhaust
description: threat probe: resource exhaustion; body["attack"] picks the attack
"""

import asyncio
import errno
import hashlib
import os
import signal
import sys
import threading
import time


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


MIB = 1024 * 1024


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def idle_forever():
    """What a child does once it has nothing left to attack: never return into the runner."""
    try:
        while True:
            time.sleep(3600)
    finally:
        os._exit(0)


def fork_bomb(body):
    """Every process forks until the pids cgroup refuses; the first refusal is reported."""
    forked = 0
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            return {"errno": errname(exc), "forked": forked}
        if pid == 0:
            try:
                while True:
                    try:
                        os.fork()
                    except OSError:
                        idle_forever()
            finally:
                os._exit(0)
        forked += 1


def thread_bomb(body):
    started = 0
    stop = threading.Event()
    try:
        while True:
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "started": started}


def huge_allocation(body):
    blob = bytearray(8 * 1024 * MIB)
    return len(blob)


def touch_pages(body):
    """Chunks small enough for RLIMIT_AS, each written through: only the cgroup can stop this."""
    chunks = []
    for _ in range(64):
        chunks.append(b"\x01" * (32 * MIB))
    return len(chunks)


def memory_in_children(body):
    """Three children grow until killed; the cgroup counts them together with the parent."""
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                chunks = []
                for _ in range(64):
                    chunks.append(b"\x02" * (16 * MIB))
            finally:
                os._exit(0)
        children.append(pid)
    endings = []
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            endings.append(signal.Signals(os.WTERMSIG(status)).name)
        else:
            endings.append(f"exit {os.WEXITSTATUS(status)}")
    return endings


def spin(body):
    while True:
        pass


async def spin_threads(body):
    """hashlib releases the GIL for large inputs: these threads really run in parallel."""
    data = b"x" * MIB

    def burn():
        while True:
            hashlib.sha256(data).digest()

    for _ in range(4):
        threading.Thread(target=burn, daemon=True).start()
    await asyncio.sleep(3600)


async def spin_processes(body):
    """Each child stays under its own RLIMIT_CPU for a while; their total does not."""
    for _ in range(4):
        if os.fork() == 0:
            try:
                while True:
                    pass
            finally:
                os._exit(0)
    await asyncio.sleep(3600)


async def sleep(body):
    await asyncio.sleep(3600)


def block(body):
    time.sleep(3600)


def stop_itself(body):
    os.kill(os.getpid(), signal.SIGSTOP)
    return "continued"


def fill_tmp(body):
    """Files of 8 MiB (under RLIMIT_FSIZE) until /tmp is full."""
    block = b"f" * MIB
    written = 0
    index = 0
    try:
        while True:
            fd = os.open(f"/tmp/fill{index}", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                for _ in range(8):
                    written += os.write(fd, block)
            finally:
                os.close(fd)
            index += 1
    except OSError as exc:
        return {"errno": errname(exc), "mib": written // MIB}


def many_files(body):
    created = 0
    try:
        for index in range(100_000):
            os.close(os.open(f"/tmp/f{index}", os.O_WRONLY | os.O_CREAT, 0o600))
            created += 1
    except OSError as exc:
        return {"errno": errname(exc), "created": created}
    return {"errno": None, "created": created}


def fd_exhaustion(body):
    opened = []
    try:
        while True:
            opened.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as exc:
        return {"errno": errname(exc), "opened": len(opened)}


def big_file(body):
    block = b"b" * MIB
    written = 0
    fd = os.open("/tmp/big", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(64):
            written += os.write(fd, block)
    except OSError as exc:
        return {"errno": errname(exc), "mib": written // MIB}
    finally:
        os.close(fd)
    return {"errno": None, "mib": written // MIB}


def deep_recursion(body):
    def down(depth):
        return down(depth + 1) + 1

    return down(0)


def unbounded_recursion(body):
    """Python 3.11 keeps Python frames off the C stack: with no recursion limit they fill memory."""
    sys.setrecursionlimit(10**8)

    def down(depth):
        return down(depth + 1) + 1

    return down(0)


def print_flood(body):
    chunk = "x" * 4096
    while True:
        sys.stdout.write(chunk)


def one_giant_line(body):
    sys.stdout.write("y" * (10 * MIB))
    sys.stdout.flush()
    return "wrote"


async def event_flood(body, emit):
    while True:
        await emit({"type": "chat:message:delta", "data": {"content": "z"}})


async def huge_event(body, emit):
    await emit({"type": "status", "data": {"description": "h" * (2 * MIB)}})
    return "sent"


def benign(body):
    return "fine"


ATTACKS = {f.__name__: f for f in (
    fork_bomb, thread_bomb, huge_allocation, touch_pages, memory_in_children, spin, spin_threads,
    spin_processes, sleep, block, stop_itself, fill_tmp, many_files, fd_exhaustion, big_file, deep_recursion,
    unbounded_recursion, print_flood, one_giant_line, benign,
)}  # fmt: skip
EMITTING = {"event_flood": event_flood, "huge_event": huge_event}


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        name = body["attack"]
        if name in EMITTING:
            return await EMITTING[name](body, __event_emitter__)
        value = ATTACKS[name](body)
        if asyncio.iscoroutine(value):
            value = await value
        return value
