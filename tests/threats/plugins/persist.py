"""
title: Persist
description: threat probe: outliving the invocation and talking to other sandboxes; body["attack"] picks the attack
"""

import asyncio
import ctypes
import errno
import os
import socket
import time

libc = ctypes.CDLL(None, use_errno=True)


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


IPC_CREAT = 0o1000
IPC_EXCL = 0o2000


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def sandbox():
    return sandbox_identity()


def idle_forever():
    try:
        while True:
            time.sleep(3600)
    finally:
        os._exit(0)


def daemonize(body):
    """The classic double fork: the grandchild is orphaned, leads no session, sleeps forever."""
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.close(ready_read)
                os.write(ready_write, str(os.getpid()).encode())
                os.close(ready_write)
                idle_forever()
        finally:
            os._exit(0)
    os.close(ready_write)
    os.waitpid(child, 0)
    grandchild = int(os.read(ready_read, 32))
    return {"grandchild": grandchild, "parent of grandchild": parent_of(grandchild)}


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def fork_setsid(body):
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_read)
            try:
                os.setsid()
                os.write(ready_write, b"OK")
            except OSError as exc:
                os.write(ready_write, errname(exc).encode())
            os.close(ready_write)
            idle_forever()
        finally:
            os._exit(0)
    os.close(ready_write)
    return {"child": child, "setsid": os.read(ready_read, 32).decode()}


def write_tmp(body):
    with open(f"/tmp/{body['name']}", "w") as f:
        f.write(body["content"])
    return sorted(os.listdir("/tmp"))


def read_tmp(body):
    try:
        with open(f"/tmp/{body['name']}") as f:
            return {"content": f.read()}
    except OSError as exc:
        return {"errno": errname(exc)}


def listdir_tmp(body):
    return sorted(os.listdir("/tmp"))


def sysv_get(kind, key, create):
    flags = (IPC_CREAT | IPC_EXCL | 0o666) if create else 0
    ctypes.set_errno(0)
    if kind == "shm":
        result = libc.shmget(ctypes.c_int(key), ctypes.c_size_t(4096 if create else 0), ctypes.c_int(flags))
    elif kind == "msg":
        result = libc.msgget(ctypes.c_int(key), ctypes.c_int(flags))
    else:
        result = libc.semget(ctypes.c_int(key), ctypes.c_int(1 if create else 0), ctypes.c_int(flags))
    return "OK" if result >= 0 else errno.errorcode[ctypes.get_errno()]


def sysv_find(body):
    return sysv_get(body["kind"], body["key"], create=False)


async def sysv_create_and_hold(body, call):
    """Create a SysV object, then wait (holding it) until the host answers."""
    created = sysv_get(body["kind"], body["key"], create=True)
    await call({"type": "holding", "data": {"created": created}})
    return created


async def write_tmp_and_hold(body, call):
    listing = write_tmp(body)
    await call({"type": "holding", "data": {"listing": listing}})
    return listing


async def listen_abstract_and_hold(body, call):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + body["abstract"])
    server.listen(8)
    server.setblocking(False)
    await call({"type": "holding", "data": {}})
    try:
        server.accept()
    except BlockingIOError:
        return "nobody connected"
    return "someone connected"


def connect_abstract(body):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + body["abstract"])
    except OSError as exc:
        return errname(exc)
    finally:
        sock.close()
    return "connected"


def posix_shm(body):
    try:
        fd = os.open(f"/dev/shm/{body['name']}", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        return errname(exc)
    os.close(fd)
    return "created"


async def sleep(body):
    # An attacker who wants to outlive the gateway first disarms the runner's own exit on a
    # closed channel (its reader thread calls os._exit): only the kernel's death signal can
    # end this sandbox now.
    import threading

    os._exit = lambda code: threading.Event().wait()
    await asyncio.sleep(3600)


ATTACKS = {f.__name__: f for f in (
    daemonize, fork_setsid, write_tmp, read_tmp, listdir_tmp, sysv_find, connect_abstract, posix_shm, sleep,
)}  # fmt: skip
HOLDING = {f.__name__: f for f in (sysv_create_and_hold, write_tmp_and_hold, listen_abstract_and_hold)}


class Action:
    async def action(self, body, __event_emitter__=None, __event_call__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox()}})
        name = body["attack"]
        if name in HOLDING:
            return await HOLDING[name](body, __event_call__)
        value = ATTACKS[name](body)
        if asyncio.iscoroutine(value):
            value = await value
        return value
