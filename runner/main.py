"""Worker entry point (runs in the sandbox).

Order matters: take the channel off stdin/stdout and point stdout at the captured output
pipe, clear the environment, wait for the gateway's ``confine`` frame, confine
(runner.confine.sequence: into the cgroup first; only PID 2 of the sandbox returns), say
``ready``, and only then read the job and touch plugin code.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, NoReturn

from runner import failure, host, inspection, install, invocation
from runner.channel import Channel
from runner.confine import sequence
from runner.loader import LoadedFunction, LoadError, load

#: The ``open_webui`` stand-in package (runner/standins/open_webui), importable by plugins.
STANDINS = str(Path(__file__).resolve().parent / "standins")


def _take_channel() -> tuple[int, int]:
    """Move the frame channel off fds 0/1 so the plugin's print() cannot corrupt it.

    ``os.dup`` returns non-inheritable descriptors; fd 1 becomes a copy of fd 2 (the
    captured output pipe) and fd 0 reads /dev/null.
    """
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return channel_in, channel_out


def _load(job: dict[str, Any], channel: Channel, workdir: Path) -> LoadedFunction:
    return load(
        job["function_id"],
        job["source"],
        workdir,
        cached=job.get("code"),
        on_compiled=lambda code: channel.send({"op": "compiled", "code": code}),
        max_compiled_bytes=channel.max_out_bytes // 2,
    )


def _inspect(job: dict[str, Any], channel: Channel, workdir: Path) -> None:
    try:
        loaded = _load(job, channel, workdir)
    except LoadError as exc:
        channel.send(failure.report("load_error", exc.error_type, str(exc), channel.max_out_bytes))
        return
    try:
        info = inspection.describe(loaded, job.get("valves"))
    except inspection.InvalidValves as exc:
        frame = failure.report("invalid_valves", "InvalidValves", str(exc), channel.max_out_bytes)
        channel.send({"op": "invalid_valves", "error": frame["error"]})
        return
    except Exception as exc:  # noqa: BLE001 - a broken class attribute is a load error
        channel.send(failure.report("load_error", type(exc).__name__, str(exc), channel.max_out_bytes))
        return
    channel.send({"op": "inspected", "info": info})


def _invoke(job: dict[str, Any], channel: Channel, workdir: Path) -> None:
    # Before loading: a plugin may call a host method from its module body or __init__.
    host.configure(channel, frozenset(job.get("host_capabilities") or ()))
    try:
        loaded = _load(job, channel, workdir)
    except LoadError as exc:
        channel.send(failure.report("result", exc.error_type, str(exc), channel.max_out_bytes, ok=False))
        return
    invocation.run(loaded, job, channel)


def _request_maps(channel: Channel) -> None:
    channel.send({"op": "unshared"})
    answer = channel.receive()
    if answer is None or answer.get("op") != "mapped":
        raise OSError("the gateway did not write the sandbox's uid/gid maps")


def main(config: dict[str, Any]) -> NoReturn:
    """Entry point of a worker spawned as a fresh interpreter (``fresh`` mode)."""
    channel_in, channel_out = _take_channel()
    serve(channel_in, channel_out, config)


def serve(channel_in: int, channel_out: int, config: dict[str, Any]) -> NoReturn:
    """Confine, run one job from the gateway, then wait to be reaped.

    Entered from :func:`main` in a fresh interpreter, or by a process forked from the
    zygote (runner.zygote), with the channel already set up and stdout/stderr pointing at
    the captured output.
    """
    # Imports after confinement must not write bytecode next to host sources (they are
    # read-only anyway); the gateway compiles the runner's ahead of time.
    sys.dont_write_bytecode = True
    # The gateway spawns workers with an empty environment, but CPython's C-locale
    # coercion (PEP 538) adds LC_CTYPE back; the plugin gets nothing at all.
    os.environ.clear()
    channel = Channel(channel_in, channel_out, int(config["max_job_bytes"]), int(config["frame_bytes"]))
    confinement = channel.receive()
    if confinement is None or confinement.get("op") != "confine":
        os._exit(2)
    try:
        forwarder = sequence.confine(
            confinement, keep_fds=(channel_in, channel_out), request_maps=lambda: _request_maps(channel)
        )
    except BaseException as exc:  # noqa: BLE001 - any failed step stops the worker, said on stderr
        print(f"confinement failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)  # noqa: T201
        os._exit(70)
    if forwarder is not None:
        forwarder.start()  # the runner's code, after confinement, before any of the plugin's
    workdir = Path("/tmp")
    tempfile.tempdir = str(workdir)
    site = confinement.get("site")
    if site is not None and not site["writable"]:
        # The function's installed requirements, read-only and precompiled, first on the
        # path as if they had been installed into the environment (as upstream does).
        sys.path.insert(0, install.SITE)
    # The open_webui stand-ins come before everything, requirements included: a package
    # a plugin installs cannot replace them.
    sys.path.insert(0, STANDINS)
    if config.get("warm_up"):
        # Imported here: it imports pydantic, which the installer's sandbox (pip and this
        # runner only) does not have when it builds a runtime.
        from runner import warmup  # noqa: PLC0415

        warmup.run()
    channel.serve_replies()
    channel.send({"op": "ready"})
    job = channel.job()
    if job["op"] == "inspect":
        _inspect(job, channel, workdir)
    elif job["op"] == "invoke":
        _invoke(job, channel, workdir)
    elif job["op"] == "install" and site is not None and site["writable"]:
        install.run(job, channel)
    # The gateway reads this process's usage after the last frame and then kills it, so
    # the worker waits instead of racing its own exit against that measurement.
    threading.Event().wait()
    os._exit(0)
