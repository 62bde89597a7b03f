"""
title: Forge
description: threat probe: hostile output on the channel to the gateway; body["attack"] picks the attack
"""

import base64
import errno
import os
import struct
import time


#: The worker's end of the frame channel towards the gateway (the runner's os.dup(1) in a
#: spawned worker, the same number in a forked one).
def sandbox_identity():
    """The sandbox's pid namespace and its PID 1's start time: namespace numbers are reused."""
    stat = open("/proc/1/stat").read()
    return os.readlink("/proc/self/ns/pid") + "@" + stat[stat.rindex(")") + 2 :].split()[19]


CHANNEL_OUT = 4


def errname(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))


def raw_frame(body):
    """Write bytes straight onto the channel, bypassing the runner, then wait to be judged."""
    payload = base64.b64decode(body["payload"])
    length = body.get("length", len(payload))
    os.write(CHANNEL_OUT, struct.pack(">I", length) + payload)
    if body.get("then") == "exit":
        os._exit(0)
    time.sleep(3600)


def frames_on_stdout(body):
    """Frame-shaped bytes on stdout and stderr are only printed output."""
    payload = base64.b64decode(body["payload"])
    frame = struct.pack(">I", len(payload)) + payload
    os.write(1, frame)
    os.write(2, frame)
    return "the real result"


def write_channel_in(body):
    """fd 3 is the read end of the gateway's frames to this worker."""
    try:
        os.write(3, b"\x00\x00\x00\x02{}")
    except OSError as exc:
        return errname(exc)
    return "written"


def plant_symlinks(body):
    """Links in /tmp to host paths, under names a supervisor might read; then write through one."""
    planted = []
    for name, target in body["links"].items():
        os.symlink(target, f"/tmp/{name}")
        planted.append(name)
    try:
        with open(f"/tmp/{planted[0]}", "w") as f:
            f.write("overwritten from the sandbox")
        through = "written"
    except OSError as exc:
        through = errname(exc)
    return {"planted": sorted(planted), "write through": through}


async def ask(body, call):
    return await call({"type": "input", "data": {"question": body["question"]}})


def abandon_foreign_call(body):
    """Tell the gateway this worker gave up on call ids it never made."""
    for call_id in body["call_ids"]:
        payload = ('{"op":"call_abandoned","call_id":"%s"}' % call_id).encode()
        os.write(CHANNEL_OUT, struct.pack(">I", len(payload)) + payload)
    return "abandoned"


ATTACKS = {f.__name__: f for f in (raw_frame, frames_on_stdout, write_channel_in, plant_symlinks, abandon_foreign_call)}


class Action:
    async def action(self, body, __event_emitter__=None, __event_call__=None):
        await __event_emitter__({"type": "sandbox", "data": {"pid_namespace": sandbox_identity()}})
        if body["attack"] == "ask":
            return await ask(body, __event_call__)
        return ATTACKS[body["attack"]](body)
