"""Load a source in a worker and get back what it is (the gateway never execs plugin code)."""

from __future__ import annotations

import hashlib
from typing import Any

import anyio

from gateway.errors import FunctionLoadError, InvalidValves, WorkerFailed
from gateway.profiles import Profile
from gateway.sandbox.codecache import CodeCache
from gateway.sandbox.confinement import SiteBind
from gateway.sandbox.frames import (
    CompiledFrame,
    Frame,
    FunctionInfo,
    InspectedFrame,
    InvalidValvesFrame,
    LoadErrorFrame,
)
from gateway.sandbox.launcher import Launcher
from gateway.sandbox.worker import OutputExceeded, ProtocolViolation, StartFailed, Worker, WorkerGone


async def _answer(
    worker: Worker, job: dict[str, Any], cache: CodeCache
) -> InspectedFrame | LoadErrorFrame | InvalidValvesFrame:
    """Send the job and read the one answer while draining what the plugin prints.

    Failures are caught inside the task group and re-raised after it, so callers see the
    plain exception rather than an ExceptionGroup.
    """
    failure: Exception | None = None
    answer: Frame | None = None

    async def drain() -> None:
        nonlocal failure
        try:
            await worker.drain_output()
        except OutputExceeded as exc:
            failure = exc
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        try:
            await worker.send(job)
            answer = await worker.receive()
            if isinstance(answer, CompiledFrame):
                # The runner's, before any of the plugin's code ran (jobs here never carry
                # cached code, so a worker that compiled always sends it first).
                if answer.code:
                    cache.put(job["function_id"], hashlib.sha256(job["source"].encode()).hexdigest(), answer.code)
                answer = await worker.receive()
        except (WorkerGone, OutputExceeded, ProtocolViolation, OSError, anyio.BrokenResourceError) as exc:
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if not isinstance(answer, InspectedFrame | LoadErrorFrame | InvalidValvesFrame):
        raise ProtocolViolation(f"unexpected {answer.op if answer else 'missing'!r} frame while loading")
    return answer


async def inspect(
    launcher: Launcher,
    profile: Profile,
    function_id: str,
    source: str,
    valves: dict[str, Any] | None,
    *,
    site: SiteBind | None = None,
) -> FunctionInfo:
    """What ``source`` defines; raises FunctionLoadError, InvalidValves or WorkerFailed.

    ``site`` is the function's installed requirements, bound as they will be when it runs.
    """
    job = {"op": "inspect", "function_id": function_id, "source": source, "valves": valves}
    try:
        async with launcher.worker(profile, "inspect", site=site) as worker:
            with anyio.fail_after(profile.inspect_timeout_seconds):
                answer = await _answer(worker, job, launcher.code_cache)
    except TimeoutError:
        raise FunctionLoadError(
            "TimeoutError", f"loading took longer than {profile.inspect_timeout_seconds} s"
        ) from None
    except WorkerGone:
        raise FunctionLoadError("WorkerCrashed", "the worker died while loading the source") from None
    except (OutputExceeded, ProtocolViolation) as exc:
        raise FunctionLoadError("WorkerCrashed", str(exc)) from None
    except (OSError, anyio.BrokenResourceError, StartFailed) as exc:
        raise WorkerFailed(f"could not start a worker: {exc}") from None
    if isinstance(answer, LoadErrorFrame):
        raise FunctionLoadError(answer.error_type, answer.error)
    if isinstance(answer, InvalidValvesFrame):
        raise InvalidValves(f"invalid valves: {answer.error}")
    return answer.info
