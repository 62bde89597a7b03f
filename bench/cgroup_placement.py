"""What placing a new process in its sandbox's cgroup costs, and whether clone3 would pay.

A worker moves itself into its invocation's cgroup as the first thing it does (it writes 0
to each ``cgroup.procs`` file the gateway names). On cgroup v2, ``clone3`` with
``CLONE_INTO_CGROUP`` could create the process there instead. This compares, side by side
in one run, the median of (each: a fork, the child's exit, the parent's wait):

* ``fork``: a plain fork, no placement (the floor);
* ``fork+write``: a fork whose child writes 0 to the cgroup's ``cgroup.procs`` file(s),
  what Airlock does (one file on v2, four hierarchies on v1);
* ``clone3``: ``clone3(CLONE_INTO_CGROUP)`` into the cgroup (v2 only).

Each round creates a fresh invocation cgroup with the gateway's own code and removes it,
as an invocation does. Run on a v1 host and in the cgroup-v2 VM::

    python bench/cgroup_placement.py --rounds 200
    python -m tests.vm -- .venv/bin/python bench/cgroup_placement.py --rounds 50
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import statistics
import time
import uuid
from collections.abc import Callable

from gateway.sandbox.cgroups import Cgroups, InvocationCgroup, Limits

_SYS_CLONE3 = 435
_CLONE_INTO_CGROUP = 0x200000000
_libc = ctypes.CDLL(None, use_errno=True)


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags",
            "pidfd",
            "child_tid",
            "parent_tid",
            "exit_signal",
            "stack",
            "stack_size",
            "tls",
            "set_tid",
            "set_tid_size",
            "cgroup",
        )
    ]


def _fork(_: InvocationCgroup) -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid


def _fork_write(group: InvocationCgroup) -> int:
    pid = os.fork()
    if pid == 0:
        for path in group.procs_files():
            with open(path, "w") as procs:
                procs.write("0")
        os._exit(0)
    return pid


def _clone3(group: InvocationCgroup) -> int:
    directory = os.open(next(iter(group.dirs.values())), os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = _CloneArgs(flags=_CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=directory)
        pid = int(_libc.syscall(_SYS_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))))
        if pid == 0:
            os._exit(0)  # the child: nothing of Python's fork bookkeeping ran, so do nothing
        if pid < 0:
            raise OSError(ctypes.get_errno(), "clone3")
        return pid
    finally:
        os.close(directory)


def measure(layout: Cgroups, variants: dict[str, Callable[[InvocationCgroup], int]], rounds: int) -> dict[str, float]:
    """Median milliseconds of one start (fork, child placed and exited, reaped) per variant.

    The variants take turns within each round, so that the machine's noise falls on all alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, start in variants.items():
            group = layout.create(uuid.uuid4().hex, Limits(memory_bytes=64 << 20, pids=16))
            began = time.perf_counter()
            os.waitpid(start(group), 0)
            samples[name].append((time.perf_counter() - began) * 1000)
            group.remove()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    """Print each variant's median and its ratio to the plain fork."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    layout = Cgroups.detect()
    layout.prepare()
    try:
        variants: dict[str, Callable[[InvocationCgroup], int]] = {"fork": _fork, "fork+write": _fork_write}
        if layout.version == 2:
            variants["clone3"] = _clone3
        print(f"cgroups: {layout.describe()}; {rounds} rounds, the variants taking turns")
        results = measure(layout, variants, rounds)
        floor = results["fork"]
        for name, median in results.items():
            print(f"{name:>11}: {median:8.3f} ms  ({median / floor:.2f}x fork)")
    finally:
        layout.release()


if __name__ == "__main__":
    main()
