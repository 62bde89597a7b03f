"""The zygote: forks sandboxes from a pre-imported interpreter (runs as the gateway's child).

The gateway starts one per profile (``python -I -S``, empty environment). It imports the
runner and what the runner needs (pydantic included), then serves ``fork`` requests on its
control socket, one at a time; each request carries the sandbox's ends of three socket
pairs, each used in one direction only (frames in, frames out, printed output). The zygote
holds no secret and never sees a job or a plugin's source: jobs go straight from the
gateway to the sandbox, after confinement.

Each sandbox is forked twice (zygote → intermediate → worker) and the intermediate exits at
once, so the worker is re-parented to the gateway, which is a child subreaper. Therefore:
the gateway reaps its sandboxes and reads their exit status as for a spawned worker; the
worker's death signal follows the gateway (it checks it is the gateway's child before it
confines); and a zygote that crashes or is recycled takes no running sandbox with it.

The zygote stays single-threaded (forking a threaded process copies locks held by threads
that do not exist in the child): it checks this before every fork and exits otherwise, and
the gateway replaces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import os
import socket
import sys
from typing import Any, NoReturn

import orjson

from runner.confine import processes

#: Bytes of one control message; requests and replies are a few dozen bytes of JSON.
MESSAGE_BYTES = 4096
#: Imported ahead of time when the runtime has them. fastapi: nearly half of real community
#: actions import it (HTMLResponse, Request) at module level; ~0.45 s of imports paid once
#: here rather than in every sandbox. The HTTP clients most actions import at module level:
#: a pool hit of an action importing requests took 65 ms without, 9.7 ms with (aiohttp:
#: 89.5 ms, 9.7 ms; docs/PERFORMANCE.md), for ~0.8 MiB more per waiting sandbox. These are
#: the operator's pinned runtime, imported before any plugin code exists in the process.
OPTIONAL_PRELOADS = ("fastapi.responses", "starlette.requests", "requests", "aiohttp", "httpx")
#: Descriptors a fork request carries: the sandbox's channel (in, out) and its output.
FORK_FDS = 3


def _preload() -> None:
    """Import what every worker needs, so that a fork starts with it in memory."""
    import asyncio  # noqa: PLC0415
    import concurrent.futures  # noqa: F401, PLC0415
    import datetime  # noqa: F401, PLC0415
    import hashlib  # noqa: F401, PLC0415
    import hmac  # noqa: F401, PLC0415
    import json  # noqa: F401, PLC0415
    import logging  # noqa: F401, PLC0415
    import pwd  # noqa: F401, PLC0415
    import secrets  # noqa: F401, PLC0415
    import typing  # noqa: F401, PLC0415
    import uuid  # noqa: F401, PLC0415

    import pydantic  # noqa: PLC0415

    import runner.main  # noqa: F401, PLC0415

    for module in OPTIONAL_PRELOADS:
        # What the profile's runtime has of them (a runtime need not hold any).
        with contextlib.suppress(ImportError):
            importlib.import_module(module)

    # Building one model pulls in pydantic's lazily imported schema machinery, the part
    # every plugin's Valves class needs.
    class _Warm(pydantic.BaseModel):
        number: int = 0
        text: str = ""
        flag: bool = False

    _Warm(number=1, text="x").model_dump()
    # One event loop run and closed: asyncio imports the rest of what it needs lazily.
    asyncio.run(asyncio.sleep(0))


def _single_threaded() -> bool:
    return len(os.listdir("/proc/self/task")) == 1


def _become_worker(control: socket.socket, fds: list[int], config: dict[str, Any]) -> NoReturn:
    """The forked worker: drop the zygote's socket, take its own descriptors, serve one job."""
    try:
        # The sandbox must never be able to reach the zygote.
        control.close()
        os.setsid()
        # Each descriptor is one direction of a socket pair (the gateway shut the other), so
        # the layout matches a spawned worker's: 0 /dev/null, 1 and 2 the captured output,
        # 3 frames from the gateway, 4 frames to it. High copies first: a received number
        # may be one of the targets.
        channel_in, channel_out, output = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
        for fd in fds:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(channel_in, 3, inheritable=False)
        os.dup2(channel_out, 4, inheritable=False)
        for fd in (channel_in, channel_out, output):
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        import runner.main  # noqa: PLC0415 - preloaded: this is a dictionary lookup

        runner.main.serve(3, 4, config)
    finally:
        os._exit(70)


def _fork_worker(control: socket.socket, fds: list[int], config: dict[str, Any]) -> int:
    """Fork a worker through an intermediate process that exits at once; return its pid."""
    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        code = 1
        try:
            os.close(read_end)
            worker = os.fork()
            if worker == 0:
                os.close(write_end)
                _become_worker(control, fds, config)
            os.write(write_end, worker.to_bytes(4, "big"))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        data = os.read(read_end, 4)
    finally:
        os.close(read_end)
    # Once the intermediate is reaped, the worker's parent is the gateway.
    _, status = os.waitpid(intermediate, 0)
    if status != 0 or len(data) != 4:
        raise OSError(f"the intermediate process failed (status {status})")
    return int.from_bytes(data, "big")


def _serve(control: socket.socket, config: dict[str, Any]) -> NoReturn:
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, FORK_FDS)
        except OSError:
            os._exit(1)
        if not message:  # the gateway closed the control socket: retire
            os._exit(0)
        try:
            request = orjson.loads(message)
            if request.get("op") != "fork" or len(fds) != FORK_FDS:
                raise ValueError(f"not a fork request with {FORK_FDS} descriptors")
            if not _single_threaded():
                control.send(orjson.dumps({"error": "the zygote is not single-threaded"}))
                os._exit(1)
            reply: dict[str, Any] = {"pid": _fork_worker(control, fds, config)}
        except (OSError, ValueError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        control.send(orjson.dumps(reply))


def main(config: dict[str, Any]) -> NoReturn:
    """Zygote entry point: fd 0 is the control socket (SOCK_SEQPACKET) to the gateway."""
    os.environ.clear()
    processes.die_with_parent(int(config["gateway_pid"]))
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
    # HOME only while importing: with no HOME, sysconfig (pulled in by zoneinfo) asks the
    # passwd database for the home directory, and that first use makes glibc read the
    # HOST's /etc/nsswitch.conf; glibc never re-reads it once the root has changed
    # (pivot_root), so every forked sandbox would ignore its own "hosts: files" and try DNS.
    os.environ["HOME"] = "/"
    try:
        _preload()
    finally:
        del os.environ["HOME"]
    # Objects that exist now are never collected; keeping the collector away from them
    # keeps their pages shared with every forked sandbox instead of copied.
    gc.collect()
    gc.freeze()
    control.send(orjson.dumps({"ready": os.getpid()}))
    _serve(control, config)
