"""Resource exhaustion: each attack ends with its verdict or a refusal, and nothing is left running.

The ``fast`` profile (tests/conftest.py): wall 3 s, CPU 1 s, 256 MiB memory (cgroup), 4 GiB
address space (RLIMIT_AS), 64 pids, 64 open files, 16 MiB files, a 32 MiB /tmp of 4096
inodes, 64 KiB of printed output, 200 events, 64 KiB frames.
"""

from __future__ import annotations

import pytest

from airlock.client import AirlockClient, Outcome
from tests.helpers import sandbox_gone
from tests.threats.probe import Attacked, attack

pytestmark = [pytest.mark.anyio]

MIB = 1024 * 1024


async def exhaust(client: AirlockClient, name: str, time_limit: float | None = None) -> Attacked:
    attacked = await attack(client, "exhaust", name, time_limit=time_limit)
    assert await sandbox_gone(attacked.sandbox), "a process of the sandbox outlived its invocation"
    return attacked


async def test_cant_fork_bomb(client: AirlockClient) -> None:
    attacked = await exhaust(client, "fork_bomb")
    # Every process forks until the pids cgroup (64) refuses; the plugin still returns.
    assert attacked.value["errno"] == "EAGAIN"
    assert 1 <= attacked.value["forked"] < 64
    benign = await attack(client, "exhaust", "benign")
    assert benign.value == "fine"


async def test_cant_thread_bomb(client: AirlockClient) -> None:
    attacked = await exhaust(client, "thread_bomb")
    assert attacked.value["error"] == "RuntimeError: can't start new thread"
    assert attacked.value["started"] < 64


async def test_cant_allocate_one_huge_block(client: AirlockClient) -> None:
    result = (await exhaust(client, "huge_allocation")).result
    # 8 GiB is past RLIMIT_AS: the allocation itself fails inside the plugin.
    assert result.outcome is Outcome.MEMORY_LIMIT
    assert result.error_type == "MemoryError"


async def test_cant_touch_pages_past_the_memory_limit(client: AirlockClient) -> None:
    result = (await exhaust(client, "touch_pages")).result
    # 32 MiB chunks stay far under RLIMIT_AS; the cgroup's OOM killer ends the sandbox.
    assert result.outcome is Outcome.MEMORY_LIMIT, result
    assert result.error_type == "MemoryLimit"
    assert result.error == "memory limit of 256 MiB exceeded"
    assert 200 * MIB < result.usage.peak_memory_bytes <= 256 * MIB


async def test_cant_escape_the_memory_limit_in_child_processes(client: AirlockClient) -> None:
    attacked = await exhaust(client, "memory_in_children")
    # Three children growing at once share the parent's 256 MiB: each is OOM-killed in turn.
    assert attacked.value == ["SIGKILL", "SIGKILL", "SIGKILL"]
    assert attacked.result.usage.peak_memory_bytes <= 256 * MIB


async def test_cant_recurse_without_bound(client: AirlockClient) -> None:
    result = (await exhaust(client, "unbounded_recursion")).result
    # With the recursion limit lifted, Python 3.11's frames grow on the heap until the cgroup stops them.
    assert result.outcome is Outcome.MEMORY_LIMIT, result
    assert result.error_type == "MemoryLimit"


async def test_cant_recurse_deeply(client: AirlockClient) -> None:
    result = (await exhaust(client, "deep_recursion")).result
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error_type == "RecursionError"
    assert result.error == "maximum recursion depth exceeded"


#: RLIMIT_CPU fires on the process's own (tick-sampled) count, which over-counts on a loaded
#: machine; the cgroup's precise count may trail it; the verdict allows the same 25%
#: (gateway.sandbox.verdict).
CPU_LIMIT_REACHED_MS = 750


async def test_cant_spin_the_cpu(client: AirlockClient) -> None:
    result = (await exhaust(client, "spin")).result
    assert result.outcome is Outcome.CPU_LIMIT, result
    assert result.error == "CPU time limit of 1 s exceeded"
    assert result.usage.cpu_ms >= CPU_LIMIT_REACHED_MS


async def test_cant_spin_in_parallel_threads(client: AirlockClient) -> None:
    result = (await exhaust(client, "spin_threads")).result
    assert result.outcome is Outcome.CPU_LIMIT, result
    assert result.usage.cpu_ms >= CPU_LIMIT_REACHED_MS


async def test_cant_spin_in_child_processes_under_each_ones_rlimit(client: AirlockClient) -> None:
    result = (await exhaust(client, "spin_processes")).result
    assert result.outcome is Outcome.CPU_LIMIT, result
    assert result.usage.cpu_ms >= 1000
    # Four children spinning alike: for one of them to reach its own 1 s RLIMIT_CPU, they
    # would have used about 4 s together. Their sum stopped near 1 s: the cgroup's total
    # ended it. (CPU time, not wall time: other load on the machine changes only the latter.)
    assert result.usage.cpu_ms < 2000, result.usage


async def test_cant_sleep_forever(client: AirlockClient) -> None:
    result = (await exhaust(client, "sleep", time_limit=0.5)).result
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "the action ran longer than its timeout of 0.5 s"


async def test_cant_block_forever_in_native_code(client: AirlockClient) -> None:
    result = (await exhaust(client, "block", time_limit=0.5)).result
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "the action ran longer than its timeout of 0.5 s"


async def test_cant_stall_by_stopping_itself(client: AirlockClient) -> None:
    result = (await exhaust(client, "stop_itself", time_limit=0.5)).result
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "the action ran longer than its timeout of 0.5 s"


async def test_cant_fill_tmp(client: AirlockClient) -> None:
    attacked = await exhaust(client, "fill_tmp")
    assert attacked.value["errno"] == "ENOSPC"
    assert 24 <= attacked.value["mib"] <= 32


async def test_cant_create_100k_files(client: AirlockClient) -> None:
    attacked = await exhaust(client, "many_files")
    assert attacked.value["errno"] == "ENOSPC"
    assert attacked.value["created"] < 4096


async def test_cant_exhaust_file_descriptors(client: AirlockClient) -> None:
    attacked = await exhaust(client, "fd_exhaustion")
    assert attacked.value["errno"] == "EMFILE"
    assert attacked.value["opened"] < 64


async def test_cant_write_a_file_past_the_size_limit(client: AirlockClient) -> None:
    attacked = await exhaust(client, "big_file")
    # Python ignores SIGXFSZ, so RLIMIT_FSIZE surfaces as EFBIG at exactly 16 MiB.
    assert attacked.value == {"errno": "EFBIG", "mib": 16}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("print_flood", "the plugin printed more than stdio_bytes=65536"),
        ("one_giant_line", "the plugin printed more than stdio_bytes=65536"),
        ("event_flood", "the plugin sent more than max_events=200 events and calls"),
        ("huge_event", "a frame of 2097208 bytes exceeds frame_bytes=65536"),
    ],
)
async def test_cant_flood_output(client: AirlockClient, name: str, message: str) -> None:
    result = (await exhaust(client, name)).result
    assert result.outcome is Outcome.OUTPUT_LIMIT, result
    assert result.error == message
    assert len(result.output) <= 1024
