"""Host processes: a sandbox sees only its own PID 1 and 2 and can signal or trace nothing else.

The pid namespace hides every other process (ESRCH); Landlock's signal scope keeps even
processes it can name but did not create (its PID 1, the worker outside the namespace) out
of reach (EPERM); seccomp refuses ptrace and cross-process memory access (EPERM).
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Outcome
from gateway.uids import SANDBOX_UID_COUNT, SANDBOX_UID_FIRST
from tests.helpers import sandbox_alive, sandbox_gone
from tests.threats.probe import Attacked, attack, needs_landlock, while_holding

pytestmark = [pytest.mark.anyio]


def host_pids(sandbox: str) -> list[int]:
    """Host pids of a sandbox's processes, and of the worker that is their parent outside."""
    pid_namespace = sandbox.partition("@")[0]
    inside = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == pid_namespace:
                    inside.append(int(entry))
            except OSError:
                continue
    parents = set()
    for pid in inside:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parents.add(int(stat.rsplit(")", 1)[1].split()[1]))
    return sorted(set(inside) | (parents - set(inside)))


async def test_cant_see_host_processes(client: AirlockClient) -> None:
    attacked = await attack(client, "processes", "pids")
    assert attacked.value == ["1", "2"]


async def test_cant_signal_the_gateway(client: AirlockClient) -> None:
    attacked = await attack(client, "processes", "kill", pid=os.getpid(), signal=signal.SIGKILL)
    assert attacked.value == "ESRCH"
    assert (await attack(client, "exhaust", "benign")).value == "fine"


@needs_landlock(6, "scoping signals to the sandbox")
async def test_cant_kill_its_own_reaper(client: AirlockClient) -> None:
    attacked = await attack(client, "processes", "kill", pid=1, signal=signal.SIGKILL)
    assert attacked.value == "EPERM"


@needs_landlock(6, "scoping signals to the sandbox")
async def test_cant_kill_the_worker_through_its_process_group(client: AirlockClient) -> None:
    # The plugin's process group began outside the sandbox, with the worker; kill(0, SIGTERM)
    # would end the worker, and with it the sandbox, if the signal reached it.
    attacked = await attack(client, "processes", "kill_process_group", signal=signal.SIGTERM)
    assert attacked.value == "OK"


async def test_cant_kill_everything_beyond_its_sandbox(client: AirlockClient) -> None:
    async def kill_all_meanwhile(victim: str, _: Any) -> Attacked:
        assert sandbox_alive(victim)
        return await attack(client, "processes", "kill_everything")

    victim, killer = await while_holding(client, "processes", "victim", kill_all_meanwhile)
    # kill(-1, SIGKILL) killed the killer's own child, not its PID 1 and nothing outside.
    assert killer.value == {"kill": "OK", "child": "SIGKILL", "pid 1 alive": True}
    assert victim.value == "released"
    assert await sandbox_gone(killer.sandbox)
    assert await sandbox_gone(victim.sandbox)
    assert (await attack(client, "exhaust", "benign")).value == "fine"


async def test_cant_signal_another_sandbox_by_its_host_pids(client: AirlockClient) -> None:
    targets: list[int] = []

    async def attack_meanwhile(victim: str, _: Any) -> Attacked:
        targets.extend(host_pids(victim))

        async def tell_targets(_: object) -> list[int]:
            return targets

        return await attack(client, "processes", "signal_pids_from_the_host", on_call=tell_targets)

    victim, attacker = await while_holding(client, "processes", "victim", attack_meanwhile)
    assert len(targets) == 3  # the victim's worker, its PID 1 and its PID 2
    assert attacker.value == {str(pid): "ESRCH" for pid in targets}
    assert victim.result.outcome is Outcome.OK
    assert victim.value == "released"


@pytest.mark.parametrize("request_name", ["attach", "seize", "traceme"])
async def test_cant_ptrace(client: AirlockClient, request_name: str) -> None:
    attacked = await attack(client, "processes", "ptrace", request=request_name, pid=1)
    assert attacked.value == "EPERM"


@pytest.mark.parametrize("direction", ["read", "write"])
async def test_cant_access_another_process_memory(client: AirlockClient, direction: str) -> None:
    attacked = await attack(client, "processes", "process_vm", direction=direction, pid=1)
    assert attacked.value == "EPERM"


async def test_cant_open_a_pidfd_of_the_gateway(client: AirlockClient) -> None:
    attacked = await attack(client, "processes", "pidfd_open", pid=os.getpid())
    assert attacked.value == "ESRCH"


async def test_cant_run_as_the_gateways_uid(client: AirlockClient) -> None:
    uids: dict[int, int] = {}

    owners: set[int] = set()

    async def look_from_outside(sandbox: str, _: Any) -> None:
        for pid in host_pids(sandbox):
            status = await anyio.Path(f"/proc/{pid}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            uids[pid] = int(uid_line.split()[1])
            owners.add(user_namespace_owner(pid))

    await while_holding(client, "persist", "write_tmp_and_hold", look_from_outside, name="x", content="y")
    assert len(uids) == 3  # the worker, PID 1 and PID 2
    (uid,) = set(uids.values())  # one uid for the whole sandbox...
    assert uid != os.getuid()  # ...never the gateway's...
    assert SANDBOX_UID_FIRST <= uid < SANDBOX_UID_FIRST + SANDBOX_UID_COUNT  # ...from the reserved range
    # The sandbox's user namespace (the worker's too: only the pid namespace is new for its
    # children alone) belongs to that uid, not to root, so the per-user quotas the kernel
    # counts up the namespace chain are the sandbox's own.
    assert owners == {uid}


def user_namespace_owner(pid: int) -> int:
    """The owner uid of a process's user namespace (NS_GET_OWNER_UID), as the host sees it."""
    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
    try:
        owner = bytearray(4)
        fcntl.ioctl(fd, 0xB704, owner)
        return int.from_bytes(owner, "little")
    finally:
        os.close(fd)
