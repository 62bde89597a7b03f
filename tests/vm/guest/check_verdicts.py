"""Every limit's verdict and every way an invocation ends, on cgroup v2, warm and fresh.

Each check runs one probe attack (tests/threats/plugins/exhaust.py) under the ``limits``
profile (tests/vm/guest/conftest.py) and asserts the verdict, what the kernel counted
(memory.peak, memory.events' oom_kill, cpu.stat) and that the sandbox is gone afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from pathlib import Path

import pytest

from airlock.client import AirlockClient, Event, Outcome
from gateway.server import Gateway
from tests.helpers import eventually, sandbox_alive, sandbox_gone
from tests.threats.probe import Attacked, attack, register

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


async def limited(client: AirlockClient, name: str, **body: object) -> Attacked:
    attacked = await attack(client, "exhaust", name, profile="limits", **body)  # type: ignore[arg-type]
    assert await sandbox_gone(attacked.sandbox, 60), f"{name}: the sandbox outlived its invocation"
    return attacked


def sandbox_cgroups(gateway: Gateway) -> list[Path]:
    """The invocation cgroups below this gateway's base (warm pools keep some)."""
    base = gateway.launcher.cgroups.roots[""]
    return [path for path in base.iterdir() if path.is_dir()]


async def test_timeout(client: AirlockClient) -> None:
    result = (await limited(client, "sleep", time_limit=5)).result
    assert (result.outcome, result.error_type) == (Outcome.TIMEOUT, "Timeout")


async def test_cpu_limit(client: AirlockClient) -> None:
    result = (await limited(client, "spin")).result
    assert (result.outcome, result.error_type) == (Outcome.CPU_LIMIT, "CpuLimit")
    assert result.usage.cpu_ms >= 1000


async def test_memory_limit_with_the_kernels_peak(client: AirlockClient) -> None:
    """Pages written through until the cgroup's OOM killer ends it: memory.events says oom_kill."""
    result = (await limited(client, "touch_pages")).result
    assert (result.outcome, result.error_type) == (Outcome.MEMORY_LIMIT, "MemoryLimit")
    # memory.peak: the sandbox's high-water mark, which memory.max (64 MiB) bounds.
    assert 48 * MIB < result.usage.peak_memory_bytes <= 64 * MIB


async def test_pids_limit(client: AirlockClient) -> None:
    attacked = await limited(client, "fork_bomb")
    assert attacked.value["errno"] == "EAGAIN"


async def test_output_limit(client: AirlockClient) -> None:
    result = (await limited(client, "print_flood")).result
    assert (result.outcome, result.error_type) == (Outcome.OUTPUT_LIMIT, "OutputLimit")


async def sandbox_of(invocation: AsyncIterable[object]) -> str:
    """Read the invocation up to the probe's ``sandbox`` event; its sandbox."""
    async for message in invocation:
        if isinstance(message, Event) and message.type == "sandbox":
            sandbox = str(message.data["pid_namespace"])
            assert sandbox_alive(sandbox)
            return sandbox
    raise AssertionError("the invocation ended without a sandbox event")


async def test_cancel(client: AirlockClient) -> None:
    fid = await register(client, "exhaust", "limits")
    async with client.invoke(fid, body={"attack": "block"}) as invocation:
        sandbox = await sandbox_of(invocation)
        await invocation.cancel("stop")
        async for _ in invocation:
            pass
    assert invocation.result is not None
    assert invocation.result.outcome is Outcome.CANCELLED
    assert await sandbox_gone(sandbox, 60)


async def test_disconnect(client: AirlockClient) -> None:
    fid = await register(client, "exhaust", "limits")
    async with client.invoke(fid, body={"attack": "block"}) as invocation:
        sandbox = await sandbox_of(invocation)
        # The host goes away mid-invocation.
    assert await sandbox_gone(sandbox, 60)


async def test_nothing_is_left(client: AirlockClient, gateway: Gateway) -> None:
    """After all of the above and a closed launcher (as at stop): no cgroup, no process."""
    assert (await limited(client, "benign")).value == "fine"
    await gateway.launcher.aclose()
    assert await eventually(lambda: sandbox_cgroups(gateway) == [], 60), sandbox_cgroups(gateway)
