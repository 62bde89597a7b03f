"""Run one action the way ``open_webui/utils/actions.py::chat_action`` does (runs in the sandbox).

* ``body`` is always passed; the other special arguments only when their exact name is a
  parameter of ``action`` (``**kwargs`` receives nothing).
* Admin valves are rebuilt before the call when the instance has a ``valves`` attribute.
* ``__user__["valves"]`` is a ``UserValves`` instance when the class defines one; a failure
  to build it is printed (upstream logs it) and the key is left out.
* ``async def action`` is awaited; a plain ``def action`` is called on the event loop's
  thread exactly as upstream does (it blocks nothing but this one worker).
* An ``HTMLResponse`` (or ``(content, headers)``) returned inline becomes an ``embeds``
  event and a status value, as upstream's ``process_tool_result`` does (runner.embeds).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import inspect
import sys
import termios
import time
from typing import Any

from runner import embeds, failure, request
from runner.channel import Channel
from runner.events import make_caller, make_emitter
from runner.loader import LoadedFunction

#: How long a result waits for the gateway to read the plugin's output first.
_OUTPUT_READ_SECONDS = 1.0
#: Event-loop turns granted after the action returns, so that emits it scheduled with
#: ``asyncio.create_task`` (fire-and-forget, common in plugins) still go out in order.
_DRAIN_TURNS = 5


def _json_default(value: Any) -> Any:
    plain = embeds.plain(value)
    if plain is not value:
        return plain
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _user(loaded: LoadedFunction, job: dict[str, Any]) -> dict[str, Any]:
    user = dict(job.get("user") or {})
    user_valves_cls = getattr(loaded.instance, "UserValves", None)
    if user_valves_cls is not None:
        try:
            user["valves"] = user_valves_cls(**(job.get("user_valves") or {}))
        except Exception as exc:  # noqa: BLE001 - upstream logs this and carries on
            print(f"Failed to get user values: {exc}", file=sys.stderr)  # noqa: T201 - upstream logs it
    return user


def _arguments(loaded: LoadedFunction, job: dict[str, Any], channel: Channel) -> dict[str, Any]:
    signature = inspect.signature(loaded.instance.action)
    params: dict[str, Any] = {"body": job.get("body") or {}}
    extra: dict[str, Any] = {
        "__model__": job.get("model"),
        "__id__": job.get("sub_id") or loaded.function_id,
        "__event_emitter__": make_emitter(channel),
        "__event_call__": make_caller(channel),
    }
    if "__request__" in signature.parameters:
        extra["__request__"] = request.build(job.get("request") or {})
    params.update({k: v for k, v in extra.items() if k in signature.parameters})
    if "__user__" in signature.parameters:
        params["__user__"] = _user(loaded, job)
    return params


async def _call_action(loaded: LoadedFunction, job: dict[str, Any], channel: Channel) -> Any:
    instance = loaded.instance
    if hasattr(instance, "valves") and hasattr(instance, "Valves"):
        instance.valves = instance.Valves(**(job.get("valves") or {}))
    action = instance.action
    params = _arguments(loaded, job, channel)
    if inspect.iscoroutinefunction(action):
        value = await action(**params)
    else:
        value = action(**params)
    # Upstream names the function (not the sub-action) in the status it puts in place.
    value, found = embeds.process(value, loaded.function_id)
    if found:
        await make_emitter(channel)({"type": "embeds", "data": {"embeds": found}})
    for _ in range(_DRAIN_TURNS):
        await asyncio.sleep(0)
    return value


async def _run_and_report(loaded: LoadedFunction, job: dict[str, Any], channel: Channel) -> None:
    # The result goes out from inside the loop: asyncio.run's teardown waits for executor
    # threads and for tasks that ignore cancellation, and the gateway kills the worker as
    # soon as it has the result anyway.
    try:
        value = await _call_action(loaded, job, channel)
    except BaseException as exc:  # noqa: BLE001 - plugin errors are data
        _fail(channel, exc, loaded.filename)
        return
    _flush_output()
    try:
        channel.send({"op": "result", "ok": True, "value": value}, default=_json_default)
    except TypeError as exc:
        error = TypeError(f"the action returned a value that is not JSON-serializable: {exc}")
        _fail(channel, error, loaded.filename)


def _flush_output() -> None:
    # Output printed before the result must reach the gateway before the result does.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    _wait_output_read()


def _wait_output_read() -> None:
    """Wait (briefly) until the gateway has read everything written to the output.

    A forked worker's output is a socket: the gateway then has all of it once the result
    arrives, without waiting for the sandbox to exit. The gateway reads output all along,
    so this normally returns at once; a plugin that replaced fd 1 only loses the wait.
    """
    deadline = time.monotonic() + _OUTPUT_READ_SECONDS
    unread = array.array("i", [0])
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(1, termios.TIOCOUTQ, unread)
        except OSError:
            return
        if unread[0] == 0:
            return
        time.sleep(0.0002)


def _fail(channel: Channel, exc: BaseException, filename: str) -> None:
    _flush_output()
    channel.send(failure.fit({"op": "result", **failure.describe(exc, filename)}, channel.max_out_bytes))


def run(loaded: LoadedFunction, job: dict[str, Any], channel: Channel) -> None:
    """Run the action and send its ``result`` frame."""
    if loaded.kind != "action" or not hasattr(loaded.instance, "action"):
        error = TypeError(f"function {loaded.function_id!r} is a {loaded.kind} and has no action method")
        _fail(channel, error, loaded.filename)
        return
    # The result is sent before the loop's teardown; whatever teardown raises is not news.
    with contextlib.suppress(BaseException):
        asyncio.run(_run_and_report(loaded, job, channel))
