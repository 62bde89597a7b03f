"""Persistence and cross-talk: nothing survives an invocation; nothing is shared between two.

Each sandbox has its own pid namespace (its PID 1's death ends every process in it), its
own /tmp (a tmpfs that dies with its mount namespace), its own IPC namespace (SysV objects)
and its own network namespace (abstract unix sockets). Sharing is tested between two
sandboxes alive at the same time, not only one after the other.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest

from airlock.client import AirlockClient, Event
from gateway.sandbox.cgroups import Cgroups
from tests.conftest import sandbox_binds
from tests.helpers import sandbox_alive, sandbox_gone
from tests.threats.probe import Attacked, attack, function_id, plugin_source, while_holding

pytestmark = [pytest.mark.anyio]

AIRLOCK = str(Path(sys.executable).parent / "airlock")
LISTENING = "airlock listening on "
SOURCE_FILE = "function_persist_fast.py"
#: A runtime installed below /tmp (a checkout in /tmp) is bound read-only into the sandbox's
#: /tmp at the same path; its first directory is then part of every listing.
RUNTIME_IN_TMP = sorted({p.split("/")[2] for p in sandbox_binds() if p.startswith("/tmp/")})


def tmp_listing(*names: str) -> list[str]:
    """What the sandbox's /tmp should list: ``names`` plus any runtime bound below /tmp."""
    return sorted([*names, *RUNTIME_IN_TMP])


async def test_cant_daemonize_past_the_invocation(client: AirlockClient) -> None:
    attacked = await attack(client, "persist", "daemonize")
    # The orphaned grandchild was adopted by the sandbox's own PID 1, not by the host's init...
    assert attacked.value["parent of grandchild"] == 1
    # ...and went down with it.
    assert await sandbox_gone(attacked.sandbox)


async def test_cant_survive_in_a_new_session(client: AirlockClient) -> None:
    attacked = await attack(client, "persist", "fork_setsid")
    assert attacked.value["setsid"] == "OK"
    assert await sandbox_gone(attacked.sandbox)


async def test_cant_leave_files_for_the_next_invocation(client: AirlockClient) -> None:
    first = await attack(client, "persist", "write_tmp", name="leftover", content="for whoever comes next")
    assert first.value == tmp_listing(SOURCE_FILE, "leftover")
    second = await attack(client, "persist", "read_tmp", name="leftover")
    assert second.value == {"errno": "ENOENT"}
    third = await attack(client, "persist", "listdir_tmp")
    assert third.value == tmp_listing(SOURCE_FILE)


async def test_cant_share_tmp_with_a_concurrent_sandbox(client: AirlockClient) -> None:
    async def read_meanwhile(_: str, data: Any) -> Attacked:
        assert data == {"listing": tmp_listing(SOURCE_FILE, "shared")}
        return await attack(client, "persist", "read_tmp", name="shared")

    holder, reader = await while_holding(
        client, "persist", "write_tmp_and_hold", read_meanwhile, name="shared", content="psst"
    )
    assert reader.value == {"errno": "ENOENT"}
    assert holder.value == tmp_listing(SOURCE_FILE, "shared")


@pytest.mark.parametrize("kind", ["shm", "msg", "sem"])
async def test_cant_share_sysv_ipc_with_a_concurrent_sandbox(client: AirlockClient, kind: str) -> None:
    key = 0x41495231  # a fixed key both sides know

    async def find_meanwhile(_: str, data: Any) -> Attacked:
        assert data == {"created": "OK"}
        return await attack(client, "persist", "sysv_find", kind=kind, key=key)

    holder, finder = await while_holding(client, "persist", "sysv_create_and_hold", find_meanwhile, kind=kind, key=key)
    assert finder.value == "ENOENT"
    assert holder.value == "OK"
    later = await attack(client, "persist", "sysv_find", kind=kind, key=key)
    assert later.value == "ENOENT"


async def test_cant_use_posix_shared_memory(client: AirlockClient) -> None:
    attacked = await attack(client, "persist", "posix_shm", name="airlock-shared")
    assert attacked.value == "ENOENT"  # there is no /dev/shm


async def test_cant_reach_a_concurrent_sandboxs_abstract_socket(client: AirlockClient) -> None:
    async def connect_meanwhile(_: str, __: Any) -> Attacked:
        return await attack(client, "persist", "connect_abstract", abstract="airlock-crosstalk")

    holder, connector = await while_holding(
        client, "persist", "listen_abstract_and_hold", connect_meanwhile, abstract="airlock-crosstalk"
    )
    assert connector.value == "ECONNREFUSED"
    assert holder.value == "nobody connected"


@pytest.fixture
def served(tmp_path: Path, profiles_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A real ``airlock serve`` process on port 0 (killed at the end if still running)."""
    argv = [
        AIRLOCK,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    argv += ["--profiles", str(profiles_dir), "--log-format", "json"]
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(LISTENING), (line, (tmp_path / "serve.log").read_text())
        yield process, line.removeprefix(LISTENING).strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


async def test_cant_survive_a_gateway_crash(served: tuple[subprocess.Popen[str], str]) -> None:
    process, target = served
    sandboxes: list[str] = []

    async def invoke_then_kill_the_gateway() -> None:
        async with AirlockClient(target) as client:
            fid = function_id("persist", "fast")
            await client.put_function(fid, plugin_source("persist"), profile="fast")
            async with client.invoke(fid, body={"attack": "sleep"}) as invocation:
                async for message in invocation:
                    if isinstance(message, Event) and message.type == "sandbox":
                        sandboxes.append(message.data["pid_namespace"])
                        assert sandbox_alive(sandboxes[0])
                        process.send_signal(signal.SIGKILL)
                        process.wait()

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await invoke_then_kill_the_gateway()
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    # PDEATHSIG on the worker and on the sandbox's PID 1: the kernel ends them, nobody else.
    with anyio.fail_after(5):
        while sandbox_alive(sandboxes[0]):  # noqa: ASYNC110 - polling the kernel's process table
            await anyio.sleep(0.02)
    # The dead gateway's cgroups are left for the next gateway to sweep; a sweep removes them.
    assert sweep_cgroups_of(process.pid) > 0


def sweep_cgroups_of(dead_gateway: int) -> int:
    """Sweep as a restarted gateway would; the number of the dead gateway's directories removed."""
    cgroups = Cgroups.detect()
    stale = [p for root in cgroups.roots.values() for p in root.parents[1].glob(f"gw-{dead_gateway}-*")]
    cgroups.sweep()
    assert [p for p in stale if p.exists()] == []
    return len(stale)
