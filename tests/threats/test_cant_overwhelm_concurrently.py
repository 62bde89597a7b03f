"""Sixteen hostile invocations at once: each gets its own verdict and leaves nothing behind.

They run under the ``crowd`` profile (tests/threats/conftest.py: ``fast``'s output limits,
128 MiB, 2 s of CPU, a long wall clock and room for 32 workers) next to a benign invocation, which must return
normally; afterwards the gateway still serves, and no process, cgroup or file in the host's
/tmp is left of any of them.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Outcome
from gateway.server import Gateway
from gateway.uids import SANDBOX_UID_COUNT, SANDBOX_UID_FIRST
from tests.helpers import eventually, sandbox_gone
from tests.threats.probe import Attacked, attack, register

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INVALID_UTF8_FRAME = base64.b64encode(b'{"op":"event","type":"\xff\xfe"}').decode()

#: (plugin, attack, body, outcome, error_type of the verdict or the part of the value to expect)
HOSTILE: list[tuple[str, str, dict[str, Any], Outcome, Any]] = [
    ("exhaust", "fork_bomb", {}, Outcome.OK, {"errno": "EAGAIN"}),
    ("exhaust", "thread_bomb", {}, Outcome.OK, {"error": "RuntimeError: can't start new thread"}),
    ("exhaust", "touch_pages", {}, Outcome.MEMORY_LIMIT, "MemoryLimit"),
    ("exhaust", "huge_allocation", {}, Outcome.MEMORY_LIMIT, "MemoryError"),
    ("exhaust", "deep_recursion", {}, Outcome.FUNCTION_ERROR, "RecursionError"),
    ("exhaust", "spin", {}, Outcome.CPU_LIMIT, "CpuLimit"),
    ("exhaust", "spin_threads", {}, Outcome.CPU_LIMIT, "CpuLimit"),
    ("exhaust", "spin_processes", {}, Outcome.CPU_LIMIT, "CpuLimit"),
    ("exhaust", "sleep", {"time_limit": 2}, Outcome.TIMEOUT, "Timeout"),
    ("exhaust", "print_flood", {}, Outcome.OUTPUT_LIMIT, "OutputLimit"),
    ("exhaust", "event_flood", {}, Outcome.OUTPUT_LIMIT, "OutputLimit"),
    ("exhaust", "fill_tmp", {}, Outcome.OK, {"errno": "ENOSPC"}),
    ("exhaust", "many_files", {}, Outcome.OK, {"errno": "ENOSPC"}),
    ("processes", "kill_everything", {}, Outcome.OK, {"kill": "OK", "child": "SIGKILL", "pid 1 alive": True}),
    ("persist", "daemonize", {}, Outcome.OK, {"parent of grandchild": 1}),
    ("forge", "raw_frame", {"payload": INVALID_UTF8_FRAME}, Outcome.CRASHED, "ProtocolViolation"),
]


def observed(attacked: Attacked, expected: Any) -> tuple[Outcome, Any]:
    """The verdict in the shape of its expectation: the error type, or the expected part of the value."""
    result = attacked.result
    if result.outcome is not Outcome.OK:
        return result.outcome, result.error_type
    value = result.value
    if isinstance(expected, dict) and isinstance(value, dict):
        return result.outcome, {key: value.get(key) for key in expected}
    return result.outcome, value


def sandbox_owned(path: Path) -> bool:
    try:
        return SANDBOX_UID_FIRST <= path.lstat().st_uid < SANDBOX_UID_FIRST + SANDBOX_UID_COUNT
    except FileNotFoundError:
        return False


async def test_cant_overwhelm_the_gateway_with_16_hostile_invocations(client: AirlockClient, gateway: Gateway) -> None:
    assert len(HOSTILE) == 16
    for plugin in sorted({plugin for plugin, *_ in HOSTILE}):
        await register(client, plugin, "crowd")
    host_tmp_before = set(os.listdir("/tmp"))
    hostile: dict[int, Attacked] = {}
    benign: list[Attacked] = []

    async def run_hostile(index: int) -> None:
        plugin, name, body, _, _ = HOSTILE[index]
        hostile[index] = await attack(client, plugin, name, profile="crowd", **body)

    async def run_benign() -> None:
        # In the thick of it: every hostile invocation has been admitted (each is starting,
        # running, or already stopped by its limit).
        assert await eventually(lambda: gateway.admission.inflight + len(hostile) == len(HOSTILE), 30)
        # Another user: the hostile crowd alone fills one user's max_inflight_per_user (16).
        benign.append(await attack(client, "exhaust", "benign", profile="crowd", user={"id": "bystander"}))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for index in range(len(HOSTILE)):
                tg.start_soon(run_hostile, index)
            tg.start_soon(run_benign)

    assert benign[0].value == "fine"
    verdicts = {HOSTILE[i][1]: observed(hostile[i], HOSTILE[i][4]) for i in range(len(HOSTILE))}
    assert verdicts == {name: (outcome, expected) for _, name, _, outcome, expected in HOSTILE}

    # The gateway still serves.
    assert (await attack(client, "exhaust", "benign", profile="crowd")).value == "fine"
    # Sandboxes waiting in warm pools are not leftovers: close them first, as a stopping
    # gateway does (this checks that doing so leaves nothing behind either).
    await gateway.launcher.aclose()
    # No process of any sandbox is left...
    # (The kernel recycles namespace inode numbers, so two sandboxes that did not overlap in
    # time may report the same one.)
    sandboxes = [a.sandbox for a in (*hostile.values(), *benign)]
    assert [s for s in sandboxes if not await sandbox_gone(s)] == []
    # ...no invocation cgroup (each is killed, checked empty and removed)...
    roots = gateway.launcher.cgroups.roots.values()
    assert roots
    assert [p for root in roots for p in root.iterdir() if p.is_dir()] == []
    # ...and nothing of theirs in the host's /tmp (their /tmp was a tmpfs of their own).
    new = sorted(set(os.listdir("/tmp")) - host_tmp_before)
    assert [n for n in new if n.startswith(("function_", "fill", "f0")) or sandbox_owned(Path("/tmp", n))] == []
