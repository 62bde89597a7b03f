"""Which outcome a worker's end means (pure functions over what the kernel reported)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from airlock.domain.invocation import Outcome
from gateway.profiles import Profile
from gateway.sandbox.cgroups import Counters
from gateway.sandbox.frames import ResultFrame


@dataclass(frozen=True)
class Ending:
    """How an invocation ended, before usage and output are attached."""

    outcome: Outcome
    error: str = ""
    error_type: str = ""
    value_json: bytes = b""
    traceback: str = ""


def from_result(frame: ResultFrame, value_json: bytes) -> Ending:
    """The ending a result frame reports. RLIMIT_AS surfaces in Python as MemoryError."""
    if frame.ok:
        return Ending(Outcome.OK, value_json=value_json)
    if frame.error_type == "MemoryError":
        return Ending(Outcome.MEMORY_LIMIT, frame.error, frame.error_type, traceback=frame.traceback)
    return Ending(Outcome.FUNCTION_ERROR, frame.error, frame.error_type, traceback=frame.traceback)


def from_exit(returncode: int | None, counted: Counters | None, profile: Profile) -> Ending:
    """The ending of a worker that stopped without sending a result (kernel counters first)."""
    if counted is not None and counted.oom_kills:
        return Ending(Outcome.MEMORY_LIMIT, f"memory limit of {profile.memory_mib} MiB exceeded", "MemoryLimit")
    if returncode is None:
        return Ending(Outcome.CRASHED, "the worker closed its channel without returning a result", "WorkerCrashed")
    if returncode < 0:
        signum = -returncode
        # The kernel's CPU count must agree: a plugin can send itself SIGXCPU. RLIMIT_CPU is
        # per process, so a real overrun means the cgroup total reached the limit too, as
        # far as the two counts agree: RLIMIT_CPU fires on the process's tick-sampled time,
        # the cgroup counts precisely, and on a loaded machine (other busy processes, a
        # hypervisor's steal) the sampling over-counts by 15% and more; 75% leaves room.
        cpu_exhausted = counted is not None and counted.cpu_ms >= profile.cpu_seconds * 750
        if signum in (signal.SIGXCPU, signal.SIGKILL) and cpu_exhausted:
            return Ending(Outcome.CPU_LIMIT, f"CPU time limit of {profile.cpu_seconds} s exceeded", "CpuLimit")
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        return Ending(Outcome.CRASHED, f"the worker was killed by signal {name}", "WorkerCrashed")
    return Ending(
        Outcome.CRASHED, f"the worker exited with status {returncode} before returning a result", "WorkerCrashed"
    )
