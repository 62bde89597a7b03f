"""Start-up on cgroup v2 in a cgroup shared with other processes, and doctor's prediction of it.

The guest's shell puts itself, a sibling process (``sleep``, standing for the rest of a
login session or an init) and this pytest into ``/login.scope``, the shape that made
``airlock serve`` die with EBUSY after ``airlock doctor`` had said every profile can run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airlock.client import AirlockClient
from tests.conftest import command_environment, config_for, running_gateway
from tests.threats.probe import attack
from tests.vm.guest.conftest import guest_profiles, own_cgroup

pytestmark = pytest.mark.anyio

#: The sibling's pid (tests/vm/test_guest.py starts it beside this pytest).
SIBLING = int(os.environ.get("TESTS_VM_SIBLING", "0"))
AIRLOCK = str(Path(sys.executable).parent / "airlock")


def procs(directory: Path) -> list[int]:
    return [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]


def airlock(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """An ``airlock`` command in this process's cgroup, without the caller's settings."""
    return subprocess.run(
        [AIRLOCK, *arguments], capture_output=True, text=True, timeout=timeout, env=command_environment(), check=False
    )


def test_doctor_predicts_the_take_over(tmp_path: Path) -> None:
    own = own_cgroup()
    assert own == Path("/sys/fs/cgroup/login.scope")
    assert sorted(procs(own)) == sorted([os.getpid(), SIBLING])
    done = airlock("doctor", "--profiles", str(guest_profiles(tmp_path / "profiles")))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # Doctor itself is the gateway there; pytest and the sibling are the others.
    assert (
        "cgroups:         v2 in /login.scope (no systemd manages this cgroup tree; "
        "2 other process(es) in it move to a leaf)"
    ) in lines
    # Debian 12's kernel: Landlock ABI 2, reported with what stands in for ABI 4 and 6.
    assert "landlock:        ABI 2" in lines
    degraded = [line for line in lines if line.startswith("degraded:")]
    assert [line.split(":", 1)[1].split(" has ")[0].split(" does ")[0].strip() for line in degraded] == [
        "Landlock ABI 2 < 4",
        "Landlock ABI 2 < 6",
    ]
    assert all(line.endswith("can run") for line in lines[lines.index("profiles:") + 1 :]), done.stdout


async def test_serve_takes_a_cgroup_it_shares(tmp_path: Path) -> None:
    own = own_cgroup()
    config = config_for(tmp_path, guest_profiles(tmp_path / "profiles"))
    async with running_gateway(config) as gateway, AirlockClient(gateway.address) as client:
        # Nothing is left in the subtree's root: the gateway and the sibling sit in leaves,
        # and the subtree hands the sandboxes' controllers down.
        assert procs(own) == []
        assert procs(own / "gateway") == [os.getpid()]
        assert procs(own / "shared") == [SIBLING]
        assert {"memory", "pids", "cpu"} <= set((own / "cgroup.subtree_control").read_text().split())
        base = gateway.launcher.cgroups.roots[""]
        assert base.parent.parent == own / "airlock"
        attacked = await attack(client, "exhaust", "benign", profile="limits")
        assert attacked.value == "fine"
    # A stopped gateway removes its directories.
    assert not base.exists()
    assert not base.parent.exists()


def test_doctor_and_serve_agree_where_no_controllers_reach(tmp_path: Path) -> None:
    """A cgroup whose parent hands no controllers down: both refuse, with the same words."""
    parent = Path("/sys/fs/cgroup/bare.slice")
    inner = parent / "inner.scope"
    inner.mkdir(parents=True, exist_ok=True)
    profiles = str(guest_profiles(tmp_path / "profiles"))
    said = []
    for command in (["doctor", "--profiles", profiles], ["serve", "--profiles", profiles]):
        done = subprocess.run(
            ["/bin/sh", "-c", f'echo $$ > {inner}/cgroup.procs && exec "$@"', "sh", AIRLOCK, *command],
            capture_output=True,
            text=True,
            timeout=300,
            env=command_environment(AIRLOCK_DATA_DIR=str(tmp_path / "data"), AIRLOCK_LISTEN="127.0.0.1:0"),
            check=False,
        )
        assert done.returncode != 0, done.stdout + done.stderr
        said.append(done.stdout + done.stderr)
    expected = "cgroup v2: the gateway's cgroup /bare.slice/inner.scope has no memory, pids, cpu controller"
    assert all(expected in output for output in said), said
    assert "default: REFUSED" in said[0]
    assert "the default profile cannot run on this host" in said[1]
