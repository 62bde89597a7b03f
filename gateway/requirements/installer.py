"""Run pip for one requirement set in the installer sandbox and stream what it prints.

The sandbox is an ordinary worker of the installer profile (policy.installer_profile):
confined exactly like a plugin's, with the set's staging directory as its only writable
bind. Its job is ``install`` (runner.install); its printed output, pip's, is hostile
text: it is decoded leniently, cut into bounded lines, forwarded as progress and its tail
kept for the error message.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import anyio

from airlock.domain.progress import Progress, Stage
from gateway.errors import InstallFailed, WorkerFailed
from gateway.profiles import Profile
from gateway.requirements.progress import Reporter
from gateway.requirements.wheelcache import WheelCache
from gateway.sandbox.confinement import Imports, SiteBind
from gateway.sandbox.frames import InstalledFrame, InstalledPackage
from gateway.sandbox.launcher import Launcher
from gateway.sandbox.worker import OutputExceeded, ProtocolViolation, StartFailed, Worker, WorkerGone

#: Longest line forwarded as progress (pip's lines are short; a hostile one is cut).
MAX_LINE_CHARS = 1000
#: Lines of pip's output quoted in an error, and their total size.
TAIL_LINES = 12
TAIL_CHARS = 2000


class _Output:
    """Splits the installer's output into lines for progress and keeps the tail."""

    def __init__(self, report: Reporter, limit: int) -> None:
        self._report = report
        self._limit = limit
        self._partial = b""
        self._bytes = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    async def read(self, worker: Worker) -> None:
        stream = worker.process.stderr
        assert stream is not None
        while True:
            try:
                chunk = await stream.receive(65_536)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
            self._bytes += len(chunk)
            if self._bytes > self._limit:
                raise OutputExceeded(f"the installer printed more than {self._limit} bytes")
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            if len(self._partial) > MAX_LINE_CHARS:  # one giant line: forward it in pieces
                lines.append(self._partial)
                self._partial = b""
            for line in lines:
                await self._line(line)
        if self._partial:
            await self._line(self._partial)

    async def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()[:MAX_LINE_CHARS]
        if line.strip():
            self.tail.append(line)
            await self._report(Progress(Stage.OUTPUT, line))

    def error_tail(self) -> str:
        text = "\n".join(self.tail)
        return text[-TAIL_CHARS:]


async def _run(worker: Worker, job: dict[str, Any], output: _Output) -> InstalledFrame:
    """Send the job; the answer once the output has ended too (the runner closes it first).

    Failures are caught inside the task group and re-raised after it, so callers see the
    plain exception rather than an ExceptionGroup.
    """
    answer: Any = None
    failure: Exception | None = None

    async def read_output() -> None:
        nonlocal failure
        try:
            await output.read(worker)
        except OutputExceeded as exc:
            failure = exc
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_output)
        try:
            await worker.send(job)
            answer = await worker.receive()
        except (WorkerGone, OutputExceeded, ProtocolViolation, OSError, anyio.BrokenResourceError) as exc:
            failure = exc
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if not isinstance(answer, InstalledFrame):
        raise ProtocolViolation(f"unexpected {getattr(answer, 'op', 'missing')!r} frame from the installer")
    return answer


#: pip's line when nothing on the source matches; with wheels only, an sdist-only project ends here.
_NO_MATCH = "No matching distribution found for "


def _hint(tail: str) -> str:
    """Why pip found nothing, when that may be because only a source distribution exists."""
    for line in reversed(tail.splitlines()):
        if _NO_MATCH in line:
            name = line.split(_NO_MATCH, 1)[1].strip()
            return (
                f" (Airlock installs wheels only: if {name} exists on the package source only as a source "
                "distribution, building it would run its setup code at registration; build a wheel of it and "
                "serve that from the index or requirements_wheelhouse)"
            )
    return ""


async def install(
    launcher: Launcher,
    profile: Profile,
    job: dict[str, Any],
    *,
    staging: Path,
    report: Reporter,
    imports: Imports,
    what: str,
    cache: WheelCache | None = None,
    setting: str = "requirements_timeout_seconds",
) -> list[InstalledPackage]:
    """Run the installer ``job`` into ``staging``; the packages pip installed, or InstallFailed with pip's error.

    ``what`` names what is installed in messages ("requirements", "runtime 'x'"), ``setting``
    the setting that bounds its time. What the installer downloaded goes into ``cache`` once
    it succeeded, and out of ``staging`` either way.
    """
    output = _Output(report, profile.stdio_bytes)
    try:
        async with launcher.worker(
            profile, "inspect", site=SiteBind(staging, writable=True), imports=imports
        ) as worker:
            with anyio.fail_after(profile.wall_seconds):
                answer = await _run(worker, job, output)
    except TimeoutError:
        raise InstallFailed(
            f"installing {what} took longer than {setting}={profile.wall_seconds:g}: {output.error_tail()}"
        ) from None
    except WorkerGone:
        raise InstallFailed(
            f"the installer died while installing {what} (memory or /tmp past its limits?): {output.error_tail()}"
        ) from None
    except (OutputExceeded, ProtocolViolation) as exc:
        raise InstallFailed(f"the installer misbehaved: {exc}") from None
    except StartFailed as exc:
        raise WorkerFailed(f"could not start the installer sandbox: {exc}") from None
    if not answer.ok:
        tail = output.error_tail()
        raise InstallFailed(f"installing {what} failed ({answer.error}): {tail}{_hint(tail)}")
    if cache is not None:
        ingested = await anyio.to_thread.run_sync(cache.ingest, staging)
        if ingested.added:
            await report(Progress(Stage.OUTPUT, f"cached {len(ingested.added)} downloaded wheels"))
    return answer.packages
