"""
title: Host files
description: threat probe: host files and secrets; body["attack"] picks the attack
"""

import errno
import os


def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def read(body):
    try:
        with open(body["path"], "rb") as f:
            return {"content": f.read(4096).decode("utf-8", "replace")}
    except OSError as exc:
        return {"errno": errname(exc)}


def listdir(body):
    try:
        return sorted(os.listdir(body["path"]))
    except OSError as exc:
        return errname(exc)


def stat(body):
    try:
        os.stat(body["path"])
    except OSError as exc:
        return errname(exc)
    return "exists"


def create(body):
    try:
        fd = os.open(body["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        return errname(exc)
    os.close(fd)
    return "created"


def append(body):
    try:
        fd = os.open(body["path"], os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        return errname(exc)
    os.close(fd)
    return "opened"


def mkdir(body):
    try:
        os.mkdir(body["path"])
    except OSError as exc:
        return errname(exc)
    return "created"


def environment(body):
    with open("/proc/self/environ", "rb") as f:
        raw = f.read()
    return {"os.environ": dict(os.environ), "/proc/self/environ": raw.decode("latin-1")}


def mounts(body):
    """Mount point and options of every mount the sandbox sees."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" - ")[0].split()
            found.append([fields[4], fields[5].split(",")])
    return found


ATTACKS = {f.__name__: f for f in (read, listdir, stat, create, append, mkdir, environment, mounts)}


class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        return ATTACKS[body["attack"]](body)
