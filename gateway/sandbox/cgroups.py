"""Per-invocation cgroups: memory (no swap), pids and CPU accounting; kill, verify, remove.

The gateway creates one cgroup per invocation below its own cgroup, places the worker in
it before the worker confines itself, reads the kernel's counters for the verdict and the
usage, kills everything in it at the end, checks it is empty and removes it. Two layouts:

* cgroup v2 with a subtree that is the gateway's to use (cgroup_subtree.py: delegated by
  systemd, or a tree no systemd manages) and has memory, pids and cpu:
  ``<own>/airlock/gw-<pid>-<start>/<n>/<invocation>``, killed with ``cgroup.kill``;
* cgroup v1 (memory, pids, cpuacct and freezer hierarchies): the same relative path in each
  hierarchy, killed by freezing, SIGKILLing every task and thawing, so nothing can fork
  while it is being killed.

The sandbox cannot write any of these files: it has its own cgroup namespace, no /sys, and
a uid that owns none of them. Directories are named after the gateway's pid and start time
so that a restarted gateway removes what a crashed one left behind without touching the
cgroups of another gateway that is still running. Gateways of one process (tests,
embedding) share those directories; the last one to stop removes them, so that one that
fails to start never pulls them from under another.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from gateway.sandbox import procfs
from gateway.sandbox.cgroup_subtree import BASE, Subtree, SubtreeError, find

log = structlog.get_logger("airlock.cgroups")

MIB = 1024 * 1024
_KILL_ROUNDS = 200


class CgroupError(Exception):
    """The host's cgroups cannot be used as Airlock needs them."""


@dataclass(frozen=True)
class Counters:
    """What the kernel counted for one cgroup."""

    cpu_ms: int
    peak_memory_bytes: int
    oom_kills: int


@dataclass(frozen=True)
class Limits:
    """The limits one invocation's cgroup enforces."""

    memory_bytes: int
    pids: int
    #: CPUs the sandbox may use at once (CFS bandwidth); None leaves it unthrottled.
    cpu_cores: float | None = None


_CFS_PERIOD_US = 100_000


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _mounts() -> dict[str, Path]:
    """Controller (or "" for v2) → mount point, from /proc/self/mountinfo."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, after = line.split(" - ", 1)
        fstype, _, options = after.split(" ", 2)
        mount_point = Path(before.split(" ")[4])
        if fstype == "cgroup2":
            mounts.setdefault("", mount_point)
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in ("memory", "pids", "cpu", "cpuacct", "freezer"):
                    mounts.setdefault(option, mount_point)
    return mounts


def _start_time(pid: int) -> str:
    return procfs.stat_fields(pid)[19]


#: Numbers the gateways of this process.
_gateway_numbers = itertools.count(1)


def _alive(name: str) -> bool:
    """Whether the process a directory is named after (gw-<pid>-<start time>) still runs."""
    try:
        _, pid, started = name.split("-", 2)
        return _start_time(int(pid)) == started
    except (ValueError, OSError):
        return False


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class Cgroups:
    """Where and how this gateway creates invocation cgroups (v1 or v2)."""

    V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")

    def __init__(self, version: int, roots: dict[str, Path], subtree: Subtree | None = None) -> None:
        self.version = version
        #: v1: controller → the gateway's base directory in that hierarchy; v2: {"": base}.
        self.roots = roots
        #: v2: the subtree the base directory is in.
        self.subtree = subtree

    def describe(self) -> str:
        """The layout in one line (doctor, the start-up log)."""
        if self.subtree is not None:
            return f"v2 in {self.subtree.describe()}"
        return f"v1 ({', '.join(sorted(self.roots))})"

    @classmethod
    def detect(cls) -> Cgroups:
        """Find a usable layout, v2 first; CgroupError says what is missing."""
        mounts, own = _mounts(), _own_paths()
        # airlock/gw-<pid>-<start time>/<n>: one directory per process, which a later
        # gateway's sweep tells alive or dead, and below it one per gateway, because a
        # process may run several (an embedding host, the test suite) and one that stops
        # removes its own directory.
        name = Path(f"gw-{os.getpid()}-{_start_time(os.getpid())}") / str(next(_gateway_numbers))
        v2_problem: SubtreeError | None = None
        if "" in mounts and "" in own:
            try:
                subtree = find(mounts[""], own[""])
                return cls(2, {"": subtree.path / BASE / name}, subtree)
            except SubtreeError as exc:
                v2_problem = exc
        missing = [c for c in cls.V1_CONTROLLERS if c not in mounts or c not in own]
        if missing and v2_problem is not None and not any(c in mounts for c in cls.V1_CONTROLLERS):
            # A cgroup-v2-only host: what is wrong with the v2 subtree is the whole story.
            raise CgroupError(f"cgroup v2: {v2_problem}")
        if missing:
            v2 = f"cgroup v2: {v2_problem}" if v2_problem else "no cgroup v2 hierarchy"
            raise CgroupError(f"{v2}; and no cgroup v1 hierarchy for {', '.join(missing)}")
        roots = {c: mounts[c] / own[c].lstrip("/") / "airlock" / name for c in cls.V1_CONTROLLERS}
        for root in roots.values():
            if not os.access(root.parents[2], os.W_OK):
                raise CgroupError(f"{root.parents[2]} is not writable by the gateway")
        return cls(1, roots)

    def prepare(self) -> None:
        """Create this gateway's base directories and enable v2 controllers below them."""
        for root in self.roots.values():
            root.mkdir(parents=True, exist_ok=True)
        if self.subtree is not None:
            base = self.roots[""]
            # "No internal processes": the subtree's processes move into leaves first.
            self.subtree.take()
            for directory in (base.parents[1], base.parent, base):
                _write(directory / "cgroup.subtree_control", "+memory +pids +cpu")

    def release(self) -> None:
        """Remove this gateway's (empty) base directories when it stops."""
        for root in self.roots.values():
            # Not empty: a sandbox is still being killed (the root), or another gateway of
            # this process still runs (the process's directory).
            with contextlib.suppress(OSError):
                root.rmdir()
                root.parent.rmdir()

    def sweep(self) -> int:
        """Kill and remove what gateways that no longer run left behind; returns the count."""
        removed = 0
        parents = {root.parents[1] for root in self.roots.values()}
        for parent in parents:
            if not parent.is_dir():
                continue
            for stale in parent.iterdir():
                if not stale.is_dir() or _alive(stale.name):
                    continue
                try:
                    removed += self._remove_tree(stale)
                except OSError as exc:
                    # Another gateway starting now may be sweeping the same leftovers
                    # (ENOENT, ENODEV), or their killed processes have not exited yet
                    # (EBUSY): neither is a reason not to start; the next start retries.
                    log.warning("stale_cgroup_not_removed", cgroup=str(stale), error=exc.strerror)
        return removed

    def _remove_tree(self, directory: Path) -> int:
        """Kill everything in ``directory`` and below and remove it; the sandboxes' cgroups removed."""
        children = [p for p in directory.iterdir() if p.is_dir()]
        removed = sum(self._remove_tree(child) for child in children)
        if self.version == 2 and (directory / "cgroup.kill").exists():
            _write(directory / "cgroup.kill", "1")
        self._kill_dir(directory)
        directory.rmdir()
        # A sandbox's cgroup is named by a uuid; a process's (gw-...) and a gateway's (its
        # number) directories are not sandboxes, empty or not.
        sandbox = not directory.name.startswith("gw-") and not directory.name.isdigit()
        return removed + (1 if sandbox else 0)

    def create(self, name: str, limits: Limits) -> InvocationCgroup:
        """Create an invocation's cgroup with its limits."""
        group = InvocationCgroup(self, name)
        group.create(limits)
        return group

    def _kill_dir(self, directory: Path, spare: int | None = None, rounds: int = _KILL_ROUNDS) -> None:
        for _ in range(rounds):
            pids = [int(p) for p in (directory / "cgroup.procs").read_text().split() if int(p) != spare]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)


class InvocationCgroup:
    """One invocation's cgroup (one directory per v1 hierarchy, or one v2 directory)."""

    def __init__(self, layout: Cgroups, name: str) -> None:
        self.layout = layout
        self.dirs = {controller: root / name for controller, root in layout.roots.items()}
        # Co-mounted v1 controllers (e.g. "cpu,cpuacct") share one directory.
        self._unique = list(dict.fromkeys(self.dirs.values()))

    def _dir(self, controller: str) -> Path:
        return self.dirs["" if self.layout.version == 2 else controller]

    def create(self, limits: Limits) -> None:
        """Make the directories and write the limits (swap is never allowed)."""
        for directory in self._unique:
            directory.mkdir()
        memory, pids, cpu = self._dir("memory"), self._dir("pids"), self._dir("cpu")
        quota = int(limits.cpu_cores * _CFS_PERIOD_US) if limits.cpu_cores else None
        if self.layout.version == 2:
            _write(memory / "memory.max", str(limits.memory_bytes))
            swap = memory / "memory.swap.max"
            if swap.exists():  # only when the kernel accounts swap (swapaccount, CONFIG_MEMCG_SWAP)
                _write(swap, "0")
            _write(pids / "pids.max", str(limits.pids))
            if quota:
                _write(cpu / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
            return
        if quota:
            _write(cpu / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(quota))
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        memsw = memory / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # only when the kernel accounts swap
            _write(memsw, str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", "0")
        _write(pids / "pids.max", str(limits.pids))

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes ``0`` to in order to move itself here."""
        return [str(directory / "cgroup.procs") for directory in self._unique]

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` is in every directory of this cgroup."""
        return all(str(pid) in (d / "cgroup.procs").read_text().split() for d in self._unique)

    def cpu_ms(self) -> int:
        """CPU time of every process in the cgroup so far (one file: polled while running)."""
        if self.layout.version == 2:
            stat = dict(line.split() for line in (self.dirs[""] / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) // 1000
        return int((self._dir("cpuacct") / "cpuacct.usage").read_text()) // 1_000_000

    def counters(self) -> Counters:
        """CPU time, peak memory and OOM kills as the kernel counted them."""
        if self.layout.version == 2:
            base = self.dirs[""]
            events = dict(line.split() for line in (base / "memory.events").read_text().splitlines())
            peak_file = base / "memory.peak"
            peak = int(peak_file.read_text()) if peak_file.exists() else 0
            return Counters(self.cpu_ms(), peak, int(events.get("oom_kill", 0)))
        memory = self._dir("memory")
        oom = dict(line.split() for line in (memory / "memory.oom_control").read_text().splitlines())
        return Counters(
            cpu_ms=self.cpu_ms(),
            peak_memory_bytes=int((memory / "memory.max_usage_in_bytes").read_text()),
            oom_kills=int(oom.get("oom_kill", 0)),
        )

    def kill(self, spare: int | None = None) -> None:
        """SIGKILL every process in the cgroup but ``spare``, so that nothing it started survives.

        The gateway spares the worker it spawned at first: that process reaps the sandbox's
        PID 1, whose death takes every other process of the sandbox with it, so no zombie is
        left for the host's init to collect.
        """
        if self.layout.version == 2:
            directory = self.dirs[""]
            if spare is None:
                # The kernel kills every process, including those forked meanwhile.
                _write(directory / "cgroup.kill", "1")
                self.layout._kill_dir(directory)
                return
            # Frozen, nothing forks while the list is read and killed (as with v1's freezer).
            _write(directory / "cgroup.freeze", "1")
            try:
                for _ in range(_KILL_ROUNDS):
                    if "frozen 1" in (directory / "cgroup.events").read_text().splitlines():
                        break
                    time.sleep(0.001)
                self.layout._kill_dir(directory, spare, rounds=1)
            finally:
                _write(directory / "cgroup.freeze", "0")
            self.layout._kill_dir(directory, spare)
            return
        freezer = self._dir("freezer")
        # Frozen tasks cannot fork, so the list read below is complete; SIGKILL takes effect
        # as soon as they are thawed.
        _write(freezer / "freezer.state", "FROZEN")
        for _ in range(_KILL_ROUNDS):
            if (freezer / "freezer.state").read_text().strip() == "FROZEN":
                break
            time.sleep(0.001)
        for pid in (freezer / "cgroup.procs").read_text().split():
            if int(pid) != spare:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        _write(freezer / "freezer.state", "THAWED")
        self.layout._kill_dir(freezer, spare)

    def empty(self) -> bool:
        """True when no process is left in any directory."""
        return all(not (d / "cgroup.procs").read_text().split() for d in self._unique)

    def remove(self) -> None:
        """Remove the directories (they must be empty)."""
        for directory in self._unique:
            with contextlib.suppress(FileNotFoundError):
                directory.rmdir()
