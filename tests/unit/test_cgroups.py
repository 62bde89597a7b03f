"""cgroup layouts: v1 for real on this host; v2's file protocol against a stand-in tree.

This machine kind has cgroup v1 controllers and an empty v2 mount, so the integration and
threat suites exercise v1 end to end here. The v2 tests below check the files the gateway
reads and writes on a directory laid out like a v2 subtree, and its choices (delegation,
leaves); the kernel's side of v2 (enforcement, cgroup.kill, "no internal processes") runs
in tests/vm, on a real cgroup-v2 kernel.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gateway.sandbox import cgroup_subtree
from gateway.sandbox.cgroup_subtree import SubtreeError, find
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


@pytest.fixture(autouse=True)
def _no_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in trees are no systemd's, whatever runs this host (tests that need one say so)."""
    monkeypatch.setattr(cgroup_subtree, "systemd_manages", lambda: False)


def standin(tmp_path: Path, *, processes: tuple[int, ...] = (), controllers: str = "cpu memory pids io") -> Path:
    """A cgroup laid out like a v2 one, holding this process and ``processes``."""
    own = tmp_path / "own.service"
    own.mkdir()
    (own / "cgroup.type").write_text("domain\n")
    (own / "cgroup.controllers").write_text(controllers + "\n")
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in (os.getpid(), *processes)))
    return own


def test_v2_files(tmp_path: Path) -> None:
    own = standin(tmp_path, processes=(1,))
    subtree = find(tmp_path, "/own.service")
    assert subtree.others == (1,)
    assert subtree.granted_by == "no systemd manages this cgroup tree"
    base = own / "airlock" / "gw-1-1" / "1"
    base.mkdir(parents=True)
    for directory in (base.parents[1], base.parent, base):
        (directory / "cgroup.subtree_control").write_text("")
    layout = Cgroups(2, {"": base}, subtree)
    layout.prepare()
    # Every process moved out of the subtree's root: the gateway to its leaf, the rest to theirs.
    assert (own / "gateway" / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "shared" / "cgroup.procs").read_text() == "1"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    directory = base / "inv"
    group = layout.create("inv", Limits(memory_bytes=1 << 20, pids=4, cpu_cores=1.5))
    assert (directory / "memory.max").read_text() == str(1 << 20)
    assert not (directory / "memory.swap.max").exists()  # a kernel without swap accounting
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


def test_v2_subtree_after_a_gateway_took_it_is_the_leafs_parent(tmp_path: Path) -> None:
    own = standin(tmp_path)
    (own / "airlock").mkdir()
    for leaf in ("gateway", "shared"):
        (own / leaf).mkdir()
        assert find(tmp_path, f"/own.service/{leaf}").path == own
    (own / "unrelated").mkdir()
    (own / "unrelated" / "cgroup.type").write_text("domain\n")
    (own / "unrelated" / "cgroup.controllers").write_text("")
    with pytest.raises(SubtreeError, match="has no memory, pids, cpu controller"):
        find(tmp_path, "/own.service/unrelated")


def test_v2_refuses_a_cgroup_without_the_controllers(tmp_path: Path) -> None:
    standin(tmp_path, controllers="memory pids")
    with pytest.raises(SubtreeError) as caught:
        find(tmp_path, "/own.service")
    said = str(caught.value)
    assert "the gateway's cgroup /own.service has no cpu controller (its parent does not pass it down)" in said
    assert "systemd-run --scope -p Delegate=yes -- airlock serve" in said


def test_v2_refuses_a_threaded_cgroup(tmp_path: Path) -> None:
    own = standin(tmp_path)
    (own / "cgroup.type").write_text("threaded\n")
    with pytest.raises(SubtreeError, match="is a 'threaded' cgroup; sandboxes need a 'domain' one"):
        find(tmp_path, "/own.service")


def test_v2_under_systemd_needs_delegation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cgroup systemd manages is used only when systemd delegated it (its xattr says so)."""
    own = standin(tmp_path)
    monkeypatch.setattr(cgroup_subtree, "systemd_manages", lambda: True)
    with pytest.raises(SubtreeError) as caught:
        find(tmp_path, "/own.service")
    assert "/own.service is managed by systemd and not delegated to it" in str(caught.value)
    assert "deploy/systemd/airlock.service" in str(caught.value)
    os.setxattr(own, "trusted.delegate", b"1")
    assert find(tmp_path, "/own.service").granted_by == "delegated by systemd"
    os.setxattr(own, "trusted.delegate", b"0")
    with pytest.raises(SubtreeError, match="not delegated"):
        find(tmp_path, "/own.service")


def test_v2_under_systemd_without_delegation_says_so_before_missing_controllers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd 252 passes no cpu down to a scope it did not delegate: the refusal names delegation."""
    standin(tmp_path, controllers="memory pids")
    monkeypatch.setattr(cgroup_subtree, "systemd_manages", lambda: True)
    with pytest.raises(SubtreeError, match=r"/own\.service is managed by systemd and not delegated to it"):
        find(tmp_path, "/own.service")


def test_v2_take_retries_while_processes_join(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EBUSY from enabling controllers (a process joined after the move): moved again, then enabled."""
    own = standin(tmp_path)
    subtree = find(tmp_path, "/own.service")
    calls: list[str] = []
    real = cgroup_subtree._enable

    def busy_once(directory: Path) -> None:
        calls.append(str(directory))
        if len(calls) == 1:
            (own / "cgroup.procs").write_text("4242\n")  # a health check joins
            raise OSError(errno.EBUSY, "Device or resource busy")
        real(directory)

    monkeypatch.setattr(cgroup_subtree, "_enable", busy_once)
    subtree.take()
    assert len(calls) == 2
    assert (own / "shared" / "cgroup.procs").read_text() == "4242"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
