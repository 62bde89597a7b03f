"""Verdicts from exit statuses and result frames."""

from __future__ import annotations

import signal

from airlock.domain.invocation import Outcome
from gateway.profiles import Profile
from gateway.sandbox import verdict
from gateway.sandbox.cgroups import Counters
from gateway.sandbox.frames import ResultFrame

PROFILE = Profile(name="p", cpu_seconds=2)


def test_exit_statuses() -> None:
    assert verdict.from_exit(-signal.SIGXCPU, Counters(1990, 0, 0), PROFILE).outcome is Outcome.CPU_LIMIT
    # Seen on a loaded machine: RLIMIT_CPU's tick-sampled count ran 16% ahead of the cgroup's.
    trailing = Counters(PROFILE.cpu_seconds * 840, 0, 0)
    assert verdict.from_exit(-signal.SIGXCPU, trailing, PROFILE).outcome is Outcome.CPU_LIMIT
    # A plugin sending itself SIGXCPU has not used its CPU: the kernel's count decides.
    spoofed = verdict.from_exit(-signal.SIGXCPU, Counters(150, 0, 0), PROFILE)
    assert (spoofed.outcome, spoofed.error) == (Outcome.CRASHED, "the worker was killed by signal SIGXCPU")
    assert verdict.from_exit(-signal.SIGKILL, Counters(2500, 0, 0), PROFILE).outcome is Outcome.CPU_LIMIT
    killed = verdict.from_exit(-signal.SIGKILL, Counters(100, 0, 0), PROFILE)
    assert (killed.outcome, killed.error) == (Outcome.CRASHED, "the worker was killed by signal SIGKILL")
    assert verdict.from_exit(1, None, PROFILE).error == "the worker exited with status 1 before returning a result"
    assert verdict.from_exit(None, None, PROFILE).outcome is Outcome.CRASHED
    oom = verdict.from_exit(-signal.SIGKILL, Counters(10, 300 << 20, 1), PROFILE)
    assert (oom.outcome, oom.error) == (Outcome.MEMORY_LIMIT, "memory limit of 256 MiB exceeded")


def test_result_frames() -> None:
    ok = verdict.from_result(ResultFrame(op="result", ok=True, value=1), b"1")
    assert (ok.outcome, ok.value_json) == (Outcome.OK, b"1")
    error = verdict.from_result(ResultFrame(op="result", ok=False, error_type="KeyError", error="'k'"), b"null")
    assert (error.outcome, error.error_type, error.value_json) == (Outcome.FUNCTION_ERROR, "KeyError", b"")
    memory = verdict.from_result(ResultFrame(op="result", ok=False, error_type="MemoryError"), b"null")
    assert memory.outcome is Outcome.MEMORY_LIMIT
