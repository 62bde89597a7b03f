"""The warm path: zygotes, warm pools, the code cache, bytecode; with fresh mode kept."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from airlock.client import AirlockClient, Call, Outcome
from gateway.sandbox import bytecode
from gateway.sandbox.worker import Worker
from gateway.server import Gateway
from gateway.uids import SANDBOX_UID_FIRST
from runner.loader import display_filename, load
from tests.helpers import check, drain, eventually, register

pytestmark = pytest.mark.anyio

PROFILES = {
    "pooled": 'description = "tests: a warm pool of two"\nwarm_pool_size = 2\n',
    "ondemand": 'description = "tests: zygote forks only"\nwarm_pool_size = 0\n',
    "recycled": 'description = "tests: short-lived zygotes"\nwarm_pool_size = 0\nzygote_max_forks = 2\n',
    "spawned": 'description = "tests: fresh interpreters"\nmode = "fresh"\n',
    "aged": 'description = "tests: zygotes retired by age"\nwarm_pool_size = 0\nzygote_max_age_seconds = 1\n',
    "streaming": 'description = "tests: many events"\nmax_events = 100000\nmax_events_per_second = 1000000\n'
    "wall_seconds = 120\n",
}

DELTAS = """
class Action:
    async def action(self, body, __event_emitter__):
        for i in range(body["n"]):
            await __event_emitter__({"type": "chat:message:delta", "data": {"content": f"{i},"}})
            if i == body["n"] // 2:
                await __event_emitter__({"type": "status", "data": {"description": "half"}})
        return "done"
"""

#: An action that writes a forged "compiled" frame straight onto the channel (fd 4) as its
#: first frame, hoping to put its own code into the cache for later invocations.
POISON = """
import base64, json, os, struct, time


class Action:
    async def action(self, body):
        code = base64.b64encode(b"forged bytecode").decode()
        frame = json.dumps({"op": "compiled", "code": code}).encode()
        os.write(4, struct.pack(">I", len(frame)) + frame)
        time.sleep(5)
        return "not reached"
"""

RETURNS = """
class Action:
    async def action(self, body):
        return "{}"
"""

UNCOMPILED = """
import os, sys

class Action:
    async def action(self, body):
        return sorted(
            name for name, module in list(sys.modules.items())
            if getattr(module, "__cached__", None) and not os.path.exists(module.__cached__)
        )
"""


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path) -> Path:
    for name, text in PROFILES.items():
        (profiles_dir / f"{name}.toml").write_text(text)
    return profiles_dir


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


async def gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` has exited, waiting up to ``within`` seconds (reaping is in the background)."""
    return await eventually(lambda: not exists(pid), within)


def exists(pid: int) -> bool:
    try:
        return status(pid)["State"][0] != "Z"
    except FileNotFoundError:
        return False


def cgroup_processes(worker: Worker) -> list[int]:
    directory = worker.cgroup.dirs.get("pids") or next(iter(worker.cgroup.dirs.values()))
    return [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]


async def test_a_pooled_worker_is_in_its_cgroup_and_fully_confined_before_its_job(
    gateway: Gateway, client: AirlockClient
) -> None:
    await register(client, "introspect", profile="pooled")
    pool = gateway.launcher.pool(gateway.profiles["pooled"])
    assert pool is not None
    with anyio.fail_after(30):
        await pool.wait_ready()
    waiting = pool.waiting()[0]
    processes = cgroup_processes(waiting)
    # The worker, PID 1 and PID 2 of the sandbox, all in the sandbox's own cgroup.
    assert waiting.pid in processes
    assert len(processes) == 3
    states = [status(pid) for pid in processes]
    assert all(int(s["Uid"].split()[0]) >= SANDBOX_UID_FIRST for s in states)
    confined = [s for s in states if s["Seccomp"] == "2"]
    assert len(confined) == 1, "exactly PID 2 has its seccomp filter, before any job"
    assert confined[0]["NoNewPrivs"] == "1"
    assert confined[0]["CapEff"] == confined[0]["CapPrm"] == "0000000000000000"
    hits = pool.hits
    drained = await drain(client, "introspect")
    assert drained.result.outcome is Outcome.OK
    assert pool.hits == hits + 1
    assert drained.result.value["pid"] == 2
    assert await gone(waiting.pid)


async def test_the_pool_refills_in_the_background(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="pooled")
    pool = gateway.launcher.pool(gateway.profiles["pooled"])
    assert pool is not None
    for _ in range(3):
        with anyio.fail_after(30):
            await pool.wait_ready()
        taken = pool.waiting()[0].pid
        assert (await drain(client, "introspect")).result.outcome is Outcome.OK
        with anyio.fail_after(30):
            await pool.wait_ready()
        assert taken not in {w.pid for w in pool.waiting()}, "sandboxes are never reused"
        assert await gone(taken)


async def test_a_miss_forks_on_demand_with_the_same_confinement(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="ondemand")
    assert gateway.launcher.pool(gateway.profiles["ondemand"]) is None
    drained = await drain(client, "introspect")
    assert drained.result.outcome is Outcome.OK
    value = drained.result.value
    assert value["pid"] == 2
    assert value["environ"] == {}
    assert value["flags"] == {"isolated": 1, "no_site": 1}
    assert sorted(int(fd) for fd in value["fds"]) == list(range(8))


async def test_a_killed_zygote_is_replaced_and_its_sandboxes_keep_running(
    gateway: Gateway, client: AirlockClient
) -> None:
    await register(client, "caller", profile="ondemand")
    slot = gateway.launcher.zygote(gateway.profiles["ondemand"])
    first = slot.current_pid
    assert first is not None
    generation = slot.generation

    async def kill_the_zygote_then_answer(call: Call) -> Any:
        os.kill(first, signal.SIGKILL)
        assert await gone(first)  # the zygote is dead while this sandbox still runs
        return True

    drained = await drain(
        client, "caller", on_call=kill_the_zygote_then_answer, body={"calls": [{"type": "confirmation"}]}
    )
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == [True]
    assert (await drain(client, "caller", body={})).result.outcome is Outcome.OK
    assert slot.current_pid not in (None, first)
    assert slot.generation == generation + 1
    assert await gone(first)


async def test_zygotes_are_recycled_after_max_forks(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="recycled")
    slot = gateway.launcher.zygote(gateway.profiles["recycled"])
    seen = {slot.current_pid}
    for _ in range(5):
        assert (await drain(client, "introspect")).result.outcome is Outcome.OK
        seen.add(slot.current_pid)
    # Six forks (one registration, five invocations), two per zygote.
    assert slot.generation == 3
    assert len(seen) == 3
    assert [pid for pid in seen if pid != slot.current_pid and pid is not None and exists(pid)] == []


async def test_zygotes_are_recycled_by_age(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="aged")
    slot = gateway.launcher.zygote(gateway.profiles["aged"])
    assert (await drain(client, "introspect")).result.outcome is Outcome.OK
    before = slot.current_pid
    assert before is not None
    await anyio.sleep(1.1)
    assert (await drain(client, "introspect")).result.outcome is Outcome.OK
    assert slot.current_pid not in (None, before)
    assert await gone(before)


async def test_a_zygote_holds_no_environment_and_a_single_thread(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="ondemand")
    pid = gateway.launcher.zygote(gateway.profiles["ondemand"]).current_pid
    assert pid is not None
    assert environ(pid) == b""
    assert status(pid)["Threads"] == "1"
    # Nothing but stdio and its control socket: no sandbox's channel stays behind.
    targets = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert sorted(int(fd) for fd in targets) == [0, 1, 2, 3]
    assert targets["3"].startswith("socket:")
    assert targets["0"] == targets["1"] == "/dev/null"


async def test_fresh_mode_spawns_an_interpreter_per_invocation(gateway: Gateway, client: AirlockClient) -> None:
    await register(client, "introspect", profile="spawned")
    drained = await drain(client, "introspect")
    assert drained.result.outcome is Outcome.OK
    seen = drained.result.value
    assert seen["flags"] == {"isolated": 1, "no_site": 1}
    assert seen["environ"] == {}
    assert seen["pid"] == 2
    fds = {int(fd): target for fd, target in seen["fds"].items()}
    # A spawned worker's channel is two pipes (its stdin and stdout), its output a third.
    assert fds[0] == "/dev/null"
    assert fds[1] == fds[2]
    assert all(fds[fd].startswith("pipe:") for fd in (1, 3, 4))
    assert len({fds[1], fds[3], fds[4]}) == 3
    assert sorted(fds) == list(range(8)), fds
    assert "spawned" not in gateway.launcher._zygotes


async def test_registered_code_is_cached_and_not_parsed_again(gateway: Gateway, client: AirlockClient) -> None:
    record = await client.put_function("cached", RETURNS.format("from source"), profile="ondemand")
    cache = gateway.launcher.code_cache
    assert cache.get("cached", record.sha256) is not None, "registration fills the cache"
    # Swap the cached code for other code under the same name: invocations must run it,
    # proving that the worker used the cache rather than compiling the source again.
    offered: list[str | None] = []
    load(
        "cached",
        RETURNS.format("from the cache"),
        Path(os.environ.get("TMPDIR", "/tmp")),
        on_compiled=offered.append,
        max_compiled_bytes=1 << 20,
    )
    assert offered[0]
    cache.put("cached", record.sha256, offered[0])
    drained = await drain(client, "cached")
    assert drained.result.value == "from the cache"


async def test_a_cache_miss_compiles_and_fills_the_cache(gateway: Gateway, client: AirlockClient) -> None:
    record = await client.put_function("fills", RETURNS.format("ok"), profile="ondemand")
    cache = gateway.launcher.code_cache
    cache.discard("fills", record.sha256)
    assert cache.get("fills", record.sha256) is None
    assert (await drain(client, "fills")).result.value == "ok"
    assert cache.get("fills", record.sha256), "the worker offered its compiled code"
    assert display_filename("fills") == "<function fills>"


async def test_workers_import_only_precompiled_bytecode(gateway: Gateway, client: AirlockClient) -> None:
    assert bytecode.stale() == []
    await client.put_function("uncompiled", UNCOMPILED, profile="ondemand")
    drained = await drain(client, "uncompiled")
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value == []


async def test_a_slow_host_gets_every_delta_merged_in_order(gateway: Gateway, client: AirlockClient) -> None:
    await client.put_function("deltas", DELTAS, profile="streaming")
    n = 20_000
    received: list[Any] = []
    async with client.invoke("deltas", body={"n": n}) as invocation:
        # The host does not read for a while: the stream's flow-control window fills up,
        # then the gateway's queue, and deltas start to merge.
        await anyio.sleep(2)
        received = [m async for m in invocation]
    drained = check(received)  # Started first, Result last, seq 1..N without gaps
    assert drained.result.value == "done"
    types = [e.type for e in drained.events]
    assert types.count("status") == 1
    half = types.index("status")
    before = "".join(e.data["content"] for e in drained.events[:half])
    after = "".join(e.data["content"] for e in drained.events[half + 1 :])
    assert before == "".join(f"{i}," for i in range(n // 2 + 1))
    assert after == "".join(f"{i}," for i in range(n // 2 + 1, n))
    assert len(drained.events) < n, "under pressure, consecutive deltas are merged"


@pytest.mark.parametrize("cached", [True, False], ids=["with_cached_code", "compiling"])
async def test_a_plugin_cannot_poison_the_code_cache(gateway: Gateway, client: AirlockClient, cached: bool) -> None:
    record = await client.put_function("poison", POISON, profile="ondemand")
    cache = gateway.launcher.code_cache
    genuine = cache.get("poison", record.sha256)
    assert genuine, "registration compiled it: the runner's frame came first"
    if not cached:
        cache.discard("poison", record.sha256)  # the worker compiles again
    drained = await drain(client, "poison")
    result = drained.result
    assert result.outcome is Outcome.CRASHED
    assert result.error == "the worker broke the protocol: unexpected 'compiled' frame during an invocation"
    kept = cache.get("poison", record.sha256)
    if cached:
        assert kept == genuine
    assert kept
    assert kept != "Zm9yZ2VkIGJ5dGVjb2Rl", "the forged code never enters the cache"


async def test_a_gateway_stopping_leaves_another_in_the_same_process_working(
    gateway: Gateway, client: AirlockClient, private_client: AirlockClient, private_gateway: Gateway
) -> None:
    # The child-subreaper flag and the cgroup base directory belong to the process and the
    # gateway respectively: the one stopping must take neither from the one still serving.
    await register(client, "introspect", profile="ondemand")
    await register(private_client, "introspect")
    assert (await drain(private_client, "introspect")).result.outcome is Outcome.OK
    await private_gateway.launcher.aclose()  # closed twice (stop closes it again): let go once
    await private_gateway.stop(0)
    for _ in range(3):
        assert (await drain(client, "introspect")).result.outcome is Outcome.OK
    assert all(root.is_dir() for root in gateway.launcher.cgroups.roots.values())
