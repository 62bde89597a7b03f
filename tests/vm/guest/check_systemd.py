"""Airlock under a real systemd: the shipped unit, and scopes with and without delegation.

tests/vm/test_guest.py boots the VM with Debian 12's systemd (252) as PID 1; this module runs
in its airlock-vm-command.service (a service without Delegate=yes, in /system.slice).

* deploy/systemd/airlock.service, installed as it is, plus a drop-in for what differs in the
  VM only (the checkout's gateway and profiles, the tests' shared runtimes, ProtectHome=
  read-only for the interpreter under /root/.pyenv): ``systemctl start`` serves; sandboxes
  run (an OK and a MEMORY_LIMIT invocation) in cgroups below the unit's, the gateway in
  ``<unit>/gateway``; ``systemctl stop`` drains an invocation in flight, then leaves no
  sandbox process and no cgroup behind.
* ``systemd-run --scope -p Delegate=yes -- airlock serve`` serves an invocation.
* ``systemd-run --scope -- airlock serve`` (no delegation) and ``airlock doctor`` in such a
  scope both refuse, naming the unit and the command that work.
* The unit with ``User=`` an unprivileged system user: systemd hands it the cgroup (owner of
  the directory, cgroup.procs, cgroup.subtree_control and cgroup.threads), and its gateway
  serves.

Sandboxes are forked from zygotes (warm mode, the shipped profiles' own). The gateways
start their pools on first use (AIRLOCK_WARM_UP=false): seven zygotes importing the runtime
at once take minutes of emulated time. The ``limits`` profile gets 10 s of CPU time: its
memory limit is the one under test here, and emulated CPU time on a busy host runs ahead
(a fresh worker's imports alone took 0.7-1.2 s of its 1 s).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import grpc
import pytest

from airlock.client import AirlockClient, Call, Event, Outcome
from tests.conftest import command_environment, shared_settings
from tests.helpers import Drained, drain, sandbox_gone
from tests.helpers import register as register_plugin
from tests.threats.probe import attack, register
from tests.vm.guest.conftest import AIRLOCK, guest_profiles, own_cgroup, serving

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]
SYSTEMCTL = "/usr/bin/systemctl"
SYSTEMD_RUN = "/usr/bin/systemd-run"
UNIT = "airlock.service"
UNITS = Path("/etc/systemd/system")
CGROUP = Path("/sys/fs/cgroup")
#: The unit's gRPC port (the VM has nothing else listening).
PORT = 50051
#: Outside /tmp: the unit has PrivateTmp=yes.
UNIT_PROFILES = Path("/etc/airlock-vm/profiles")
#: A gateway starts in about a minute here (imports under emulation, probes, a sandbox).
START_SECONDS = 600

#: The command that starts the gateway properly, as the refusal names it.
START_PROPERLY = (
    "start the gateway in a cgroup of its own that systemd delegates: the shipped unit "
    "(deploy/systemd/airlock.service, which sets Delegate=yes), or "
    "`systemd-run --scope -p Delegate=yes -- airlock serve ...`"
)


def systemd_profiles(directory: Path) -> Path:
    """The guest profiles, ``limits`` with 10 s of CPU time (the module's docstring)."""
    guest_profiles(directory)
    limits = directory / "limits.toml"
    limits.write_text(limits.read_text().replace("cpu_seconds = 1\n", "cpu_seconds = 10\n"))
    return directory


def systemctl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYSTEMCTL, *arguments], capture_output=True, text=True, timeout=300, check=False)


def show(prop: str) -> str:
    return systemctl("show", f"--property={prop}", "--value", UNIT).stdout.strip()


def journal() -> str:
    done = subprocess.run(
        ["/usr/bin/journalctl", "--no-pager", "-o", "short-monotonic", "-n", "60", "-u", UNIT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout


def drop_in() -> str:
    """What differs in the VM: where the gateway, its profiles and its runtimes are.

    Nothing here loosens the shipped hardening: ProtectHome=read-only is what
    docs/OPERATIONS.md says to use when the interpreter lives under /root (pyenv, here), and
    the tests' runtimes directory stands in for the unit's StateDirectory, writable as it is.
    """
    runtimes = shared_settings()
    # PYTHONPATH: this checkout's code, also in a worktree; AIRLOCK_WARM_UP: the module's docstring.
    environment = {**runtimes, "PYTHONPATH": str(REPO), "AIRLOCK_WARM_UP": "false"}
    return "\n".join(
        [
            "[Service]",
            "ExecStart=",
            f"ExecStart={AIRLOCK} serve --profiles {UNIT_PROFILES} --listen 127.0.0.1:{PORT} "
            "--metrics-listen 127.0.0.1:0",
            *(f"Environment={name}={value}" for name, value in environment.items()),
            "ProtectHome=read-only",
            *_checkout_under_tmp(),
            f"ReadWritePaths={runtimes['AIRLOCK_RUNTIMES_DIR']}",
            "",
        ]
    )


def _checkout_under_tmp() -> list[str]:
    # A checkout in /tmp (a CI clone, say) is hidden from the unit by its PrivateTmp=yes:
    # bound into the unit's private /tmp at the same path, the rest of /tmp stays private.
    if any(REPO.is_relative_to(shared) for shared in (Path("/tmp"), Path("/var/tmp"))):
        return [f"BindPaths={REPO}"]
    return []


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    """The shipped unit in /etc/systemd/system with the VM's drop-in; removed afterwards."""
    systemd_profiles(UNIT_PROFILES)
    (UNITS / UNIT).write_text((REPO / "deploy" / "systemd" / UNIT).read_text())
    (UNITS / f"{UNIT}.d").mkdir(exist_ok=True)
    (UNITS / f"{UNIT}.d" / "10-vm.conf").write_text(drop_in())
    assert systemctl("daemon-reload").returncode == 0
    try:
        yield
    finally:
        systemctl("stop", UNIT)
        (UNITS / f"{UNIT}.d" / "10-vm.conf").unlink()
        (UNITS / UNIT).unlink()
        systemctl("daemon-reload")


async def wait_serving(client: AirlockClient) -> None:
    """Until the unit's gateway answers SERVING; fails at once if the unit fails."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(grpc.aio.AioRpcError):
            if await client.health() == "SERVING":
                return
        state, restarts = show("ActiveState"), show("NRestarts")
        # Restart=on-failure: a gateway that fails to start is "activating" again 2 s later.
        assert (state, restarts) in (("active", "0"), ("activating", "0")), f"{UNIT}: {state}, {restarts}:\n{journal()}"
        await anyio.sleep(2)
    pytest.fail(f"{UNIT} did not serve within {START_SECONDS} s:\n{journal()}")


def airlock_health() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRLOCK, "--target", f"127.0.0.1:{PORT}", "health"],
        capture_output=True,
        text=True,
        timeout=300,
        env=command_environment(),
        check=False,
    )


def cgroup_of(pid: int) -> str:
    """A process's cgroup, as /proc/<pid>/cgroup names it (cgroup v2: ``0::<path>``)."""
    return Path(f"/proc/{pid}/cgroup").read_text().strip().removeprefix("0::")


def cgroups_of(sandbox: str) -> set[str]:
    """The cgroups of a sandbox's processes (found by their pid namespace)."""
    namespace = sandbox.partition("@")[0]
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    found.add(cgroup_of(int(entry)))
    return found


@contextlib.asynccontextmanager
async def blocking(client: AirlockClient) -> AsyncIterator[str]:
    """An invocation whose sandbox blocks for an hour; yields the sandbox once it runs."""
    fid = await register(client, "exhaust", "limits")
    async with client.invoke(fid, body={"attack": "block"}) as invocation:
        async for message in invocation:
            if isinstance(message, Event) and message.type == "sandbox":
                yield str(message.data["pid_namespace"])
                return
        pytest.fail("the blocking invocation ended before its sandbox reported")


@pytest.mark.usefixtures("installed")
async def test_the_shipped_unit_serves_confines_and_stops_clean() -> None:
    started = systemctl("start", UNIT)
    assert started.returncode == 0, started.stderr + journal()
    async with AirlockClient(f"127.0.0.1:{PORT}") as client:
        await wait_serving(client)
        health = await anyio.to_thread.run_sync(airlock_health)
        assert (health.returncode, health.stdout) == (0, "SERVING\n"), health.stderr
        # systemd delegated the unit's cgroup (and marked it); the gateway took it.
        unit_cgroup = CGROUP / "system.slice" / UNIT
        assert os.getxattr(unit_cgroup, "trusted.delegate") == b"1"
        gateway = int(show("MainPID"))
        assert cgroup_of(gateway) == f"/system.slice/{UNIT}/gateway"
        assert {"memory", "pids", "cpu"} <= set((unit_cgroup / "cgroup.subtree_control").read_text().split())

        assert (await attack(client, "exhaust", "benign", profile="limits")).value == "fine"
        result = (await attack(client, "exhaust", "touch_pages", profile="limits")).result
        assert (result.outcome, result.error_type) == (Outcome.MEMORY_LIMIT, "MemoryLimit"), result
        # systemd saw an OOM kill in the unit's cgroup, and left the gateway running.
        assert (show("OOMPolicy"), show("ActiveState"), show("NRestarts")) == ("continue", "active", "0")

        await register_plugin(client, "sleeper", profile="limits")
        drained: Drained | None = None
        async with blocking(client) as sandbox:
            cgroups = cgroups_of(sandbox)
            assert cgroups, "no process of the blocking sandbox found"
            assert all(path.startswith(f"/system.slice/{UNIT}/airlock/gw-{gateway}-") for path in cgroups), cgroups

            async def stop_when_called(call: Call) -> bool:
                # The sleeper runs: stop the unit while it sleeps, as an operator would.
                stopping.start_soon(anyio.to_thread.run_sync, lambda: systemctl("stop", UNIT))
                return True

            async with anyio.create_task_group() as stopping:
                # The sleeper asks, then sleeps 5 s: SIGTERM (to the gateway alone,
                # KillMode=mixed) drains it to its end within the unit's grace.
                drained = await drain(client, "sleeper", on_call=stop_when_called, body={"ask": True, "seconds": 5})
    assert drained is not None
    assert drained.result.outcome is Outcome.OK, (drained.result, journal())
    assert show("ActiveState") == "inactive"
    assert show("Result") == "success", journal()
    # The blocking sandbox outlived the grace: systemd killed what the gateway left, and
    # removed the delegated subtree with the unit's cgroup.
    assert await sandbox_gone(sandbox, 60)
    assert not (CGROUP / "system.slice" / UNIT).exists()


async def test_a_delegated_scope_serves(tmp_path: Path) -> None:
    scope = "airlock-delegated.scope"
    prefix = (SYSTEMD_RUN, "--quiet", "--scope", f"--unit={scope}", "-p", "Delegate=yes", "--")
    profiles = systemd_profiles(tmp_path / "profiles")
    with serving(tmp_path, prefix=prefix, profiles=profiles, AIRLOCK_WARM_UP="false") as served:
        assert cgroup_of(served.process.pid) == f"/system.slice/{scope}/gateway"
        async with AirlockClient(served.target) as client:
            assert (await attack(client, "exhaust", "benign", profile="limits")).value == "fine"
    assert served.process.returncode == 0, served.log.read_text()


def test_an_undelegated_scope_is_refused_by_serve_and_doctor(tmp_path: Path) -> None:
    # The checks themselves run in a service systemd did not delegate to them either.
    assert own_cgroup() == CGROUP / "system.slice" / "airlock-vm-command.service"
    profiles = str(systemd_profiles(tmp_path / "profiles"))
    said = {}
    for command in ("doctor", "serve"):
        scope = f"airlock-undelegated-{command}.scope"
        done = subprocess.run(
            [SYSTEMD_RUN, "--quiet", "--scope", f"--unit={scope}", "--", AIRLOCK, command, "--profiles", profiles],
            capture_output=True,
            text=True,
            timeout=600,
            env=command_environment(AIRLOCK_DATA_DIR=str(tmp_path / "data"), AIRLOCK_LISTEN="127.0.0.1:0"),
            check=False,
        )
        output = done.stdout + done.stderr
        expected = (
            f"the gateway's cgroup /system.slice/{scope} is managed by systemd and not delegated to it: "
            + START_PROPERLY
        )
        said[command] = (done.returncode, expected in output, output)
    assert said["doctor"][:2] == (1, True), said["doctor"][2]
    assert "default: REFUSED" in said["doctor"][2]
    assert said["serve"][:2] == (2, True), said["serve"][2]
    assert "the default profile cannot run on this host" in said["serve"][2]


#: The unprivileged unit's user, made as a package's postinst would (DynamicUser= would give
#: the gateway a uid of its own but no way to keep the sandboxes' state across restarts).
USER_NAME = "airlock"


@pytest.fixture
def unprivileged(installed: None) -> Iterator[int]:
    """The unit with User=: a second drop-in and the user; its uid.

    It reads the tests' built runtimes like the root unit; its wheel cache is its own (a
    gateway chmods its cache at start, and cannot chmod the root gateway's).
    """
    subprocess.run(
        ["/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", USER_NAME], check=True
    )
    uid = pwd.getpwnam(USER_NAME).pw_uid
    # The interpreter lives under /root/.pyenv: /root must be searchable (a throw-away root).
    Path("/root").chmod(0o711)
    # Applied after 10-vm.conf (drop-ins go in the order of their names), over its settings.
    conf = UNITS / f"{UNIT}.d" / "20-user.conf"
    conf.write_text(f"[Service]\nUser={USER_NAME}\nEnvironment=AIRLOCK_WHEEL_CACHE_DIR=/var/lib/airlock/wheels\n")
    assert systemctl("daemon-reload").returncode == 0
    try:
        yield uid
    finally:
        systemctl("stop", UNIT)
        conf.unlink()
        systemctl("daemon-reload")


async def test_the_unit_as_an_unprivileged_user(unprivileged: int) -> None:
    started = systemctl("start", UNIT)
    assert started.returncode == 0, started.stderr + journal()
    async with AirlockClient(f"127.0.0.1:{PORT}") as client:
        await wait_serving(client)
        gateway = int(show("MainPID"))
        assert owner(Path(f"/proc/{gateway}")) == unprivileged
        # Delegate=yes with User=: systemd gave the user what the gateway writes.
        unit_cgroup = CGROUP / "system.slice" / UNIT
        files = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")
        assert {owner(unit_cgroup / name) for name in ("", *files)} == {unprivileged}
        assert cgroup_of(gateway) == f"/system.slice/{UNIT}/gateway"
        assert (await attack(client, "exhaust", "benign", profile="limits")).value == "fine"
        result = (await attack(client, "exhaust", "touch_pages", profile="limits")).result
        assert (result.outcome, result.error_type) == (Outcome.MEMORY_LIMIT, "MemoryLimit"), result
    stopped = systemctl("stop", UNIT)
    assert stopped.returncode == 0, stopped.stderr
    assert show("Result") == "success", journal()
    assert not unit_cgroup.exists()


def owner(path: Path) -> int:
    return path.stat().st_uid
