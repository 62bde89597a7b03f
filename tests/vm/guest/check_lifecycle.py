"""A gateway killed with SIGKILL leaves nothing running, and the next one sweeps its cgroups;
an unprivileged gateway runs in a subtree delegated to its user, and is refused in one that is not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from airlock.client import AirlockClient, Event, Outcome
from gateway.sandbox.cgroups import Cgroups
from tests.conftest import command_environment
from tests.helpers import eventually
from tests.threats.probe import attack, register
from tests.vm.guest.conftest import AIRLOCK, guest_profiles, serving

pytestmark = pytest.mark.anyio

#: The unprivileged user: no passwd entry needed, its uid owns what it may write.
USER = 1000
CGROUP = Path("/sys/fs/cgroup")


def sandbox_cgroups(gateway_pid: int) -> list[Path]:
    """The invocation cgroups of the gateway with this pid (below the subtree this process took)."""
    base = Cgroups.detect().roots[""].parents[1]
    return [sandbox for gw in base.glob(f"gw-{gateway_pid}-*") for sandbox in gw.glob("*/*") if sandbox.is_dir()]


def holding(cgroups: list[Path]) -> list[Path]:
    """Those of ``cgroups`` that still hold a process (the kernel's own list)."""
    return [path for path in cgroups if (path / "cgroup.procs").read_text().split()]


async def test_a_killed_gateway_leaves_nothing_running_and_the_next_sweeps(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        dead = served.process.pid
        async with AirlockClient(served.target) as client:
            fid = await register(client, "exhaust", "limits")
            async with client.invoke(fid, body={"attack": "block"}) as invocation:
                async for message in invocation:
                    if isinstance(message, Event) and message.type == "sandbox":
                        # Killed mid-invocation, the stream still open, its sandbox running.
                        running = holding(sandbox_cgroups(dead))
                        assert running, "no sandbox of the gateway holds a process"
                        served.process.send_signal(signal.SIGKILL)
                        served.process.wait(60)
                        break
    # Its sandboxes die with it...
    assert await eventually(lambda: not holding(running), 60), holding(running)
    # ...and its cgroups stay until a gateway of this subtree starts and sweeps them.
    layout = Cgroups.detect()
    left = [path for path in layout.roots[""].parents[1].iterdir() if path.name.startswith(f"gw-{dead}-")]
    assert left, "the killed gateway's cgroups are not where the next gateway looks"
    layout.prepare()
    try:
        assert layout.sweep() >= len(running)  # the sandboxes' cgroups (and the warm pool's) counted
        assert not any(path.exists() for path in left)
    finally:
        layout.release()


def delegate(cgroup: Path, uid: int) -> None:
    """What systemd does for a unit with Delegate=yes and User=: the cgroup and its three files are the user's."""
    cgroup.mkdir(parents=True, exist_ok=True)
    (cgroup.parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
    for path in (cgroup, cgroup / "cgroup.procs", cgroup / "cgroup.subtree_control", cgroup / "cgroup.threads"):
        os.chown(path, uid, uid)


def as_user(cgroup: Path) -> tuple[str, ...]:
    """A prefix that starts a command in ``cgroup`` as the unprivileged user."""
    return (
        "/bin/sh",
        "-c",
        f'echo $$ > {cgroup}/cgroup.procs && exec setpriv --reuid={USER} --regid={USER} --clear-groups "$@"',
        "sh",
    )


@pytest.fixture
def user_home() -> Path:
    """A directory of the user's own (pytest's are root's, 0700)."""
    home = Path(tempfile.mkdtemp(prefix=f"user-{USER}-", dir="/tmp"))
    os.chown(home, USER, USER)
    return home


async def test_an_unprivileged_gateway_in_a_delegated_subtree(user_home: Path) -> None:
    cgroup = CGROUP / "user.slice" / "airlock.service"
    delegate(cgroup, USER)
    # Its own wheel cache: the tests' shared one belongs to root (the runtime it only reads).
    wheels = str(user_home / "wheels")
    with serving(user_home, prefix=as_user(cgroup), HOME=str(user_home), AIRLOCK_WHEEL_CACHE_DIR=wheels) as served:
        assert os.stat(f"/proc/{served.process.pid}").st_uid == USER
        async with AirlockClient(served.target) as client:
            assert (await attack(client, "exhaust", "benign", profile="limits")).value == "fine"
            result = (await attack(client, "exhaust", "touch_pages", profile="limits")).result
            assert result.outcome is Outcome.MEMORY_LIMIT
        # The gateway's cgroups are below the delegated one, and belong to the user.
        base = next((cgroup / "airlock").iterdir())
        assert base.stat().st_uid == USER
    assert served.process.returncode == 0, served.log.read_text()


def test_an_unprivileged_gateway_is_refused_a_subtree_not_delegated_to_it(user_home: Path) -> None:
    cgroup = CGROUP / "user.slice" / "other.service"
    cgroup.mkdir(parents=True, exist_ok=True)
    profiles = str(guest_profiles(user_home / "profiles"))
    os.chown(user_home / "profiles", USER, USER)
    said = []
    for command in (["doctor", "--profiles", profiles], ["serve", "--profiles", profiles]):
        done = subprocess.run(
            [*as_user(cgroup), AIRLOCK, *command],
            capture_output=True,
            text=True,
            timeout=300,
            env=command_environment(
                HOME=str(user_home),
                AIRLOCK_DATA_DIR=str(user_home / "data"),
                AIRLOCK_LISTEN="127.0.0.1:0",
                AIRLOCK_WHEEL_CACHE_DIR=str(user_home / "wheels"),
            ),
            check=False,
        )
        assert done.returncode != 0, done.stdout + done.stderr
        said.append(done.stdout + done.stderr)
    expected = f"/sys/fs/cgroup/user.slice/other.service is not writable by uid {USER}"
    assert all(expected in output for output in said), said
