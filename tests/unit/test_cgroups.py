"""cgroup layouts: v1 for real on this host; v2's file protocol against a stand-in tree.

This machine kind has cgroup v1 controllers and an empty v2 mount, so the integration and
threat suites exercise v1 end to end. The v2 test below checks the files the gateway
writes and parses in a delegated v2 subtree, on a directory laid out like one; the kernel's
side of v2 (enforcement, cgroup.kill) can only be tested on a v2 host.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.sandbox.cgroups import Cgroups, Counters, Limits


def test_v1_create_place_count_kill_remove() -> None:
    layout = Cgroups.detect()
    layout.prepare()
    group = layout.create("unit-test", Limits(memory_bytes=64 << 20, pids=8, cpu_cores=0.5))
    try:
        assert layout.version in (1, 2)
        if layout.version == 1:
            memory = group.dirs["memory"]
            assert int((memory / "memory.limit_in_bytes").read_text()) == 64 << 20
            assert (group.dirs["pids"] / "pids.max").read_text().strip() == "8"
            assert (group.dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        counters = group.counters()
        assert counters.oom_kills == 0
        assert group.empty()
    finally:
        group.kill()
        group.remove()
    assert not any(d.exists() for d in group.dirs.values())
    layout.release()
    assert not any(root.exists() for root in layout.roots.values())


def test_v2_files(tmp_path: Path) -> None:
    own = tmp_path / "own"
    base = own / "airlock" / "gw-1-1" / "1"
    base.mkdir(parents=True)
    for directory in (own, base.parents[1], base.parent, base):
        (directory / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    layout = Cgroups(2, {"": base})
    layout.prepare()
    assert (own / "gateway" / "cgroup.procs").read_text() == str(os.getpid())
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    directory = base / "inv"
    group = layout.create("inv", Limits(memory_bytes=1 << 20, pids=4, cpu_cores=1.5))
    assert (directory / "memory.max").read_text() == str(1 << 20)
    assert (directory / "memory.swap.max").read_text() == "0"
    assert (directory / "pids.max").read_text() == "4"
    assert (directory / "cpu.max").read_text() == "150000 100000"
    (directory / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (directory / "memory.peak").write_text("1048576\n")
    (directory / "cgroup.procs").write_text("")
    assert group.counters() == Counters(cpu_ms=2500, peak_memory_bytes=1 << 20, oom_kills=1)
    group.kill()
    assert (directory / "cgroup.kill").read_text() == "1"
    assert group.empty()
