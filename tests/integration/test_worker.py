"""What a worker process looks like from inside: environment, directory, limits, descriptors."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import structlog

from airlock.client import AirlockClient, Call, Outcome
from gateway.profiles import Profile
from gateway.sandbox.cgroups import Cgroups, Limits
from gateway.sandbox.worker import Worker, spawner
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024


async def test_worker_starts_clean_and_limited(client: AirlockClient) -> None:
    await register(client, "introspect", profile="fast")
    drained = await drain(client, "introspect")
    assert drained.result.outcome is Outcome.OK, drained.result.error
    seen = drained.result.value
    assert seen["environ"] == {}
    assert seen["cwd"] == seen["tempdir"] == "/tmp"  # the sandbox's own tmpfs
    assert seen["file"] == "/tmp/function_introspect.py"
    assert seen["pid"] == 2  # after the sandbox's reaper, in a pid namespace of its own
    assert seen["uid"] == 0  # root inside the user namespace, an unprivileged uid outside
    fds = {int(fd): target for fd, target in seen["fds"].items()}
    assert fds[0] == "/dev/null"
    assert fds[1] == fds[2]  # print() output and stderr share the captured socket...
    assert fds[1].startswith("socket:")
    # ...which is neither end of the frame channel (one socket pair per direction)
    assert fds[3].startswith("socket:")
    assert fds[4].startswith("socket:")
    assert len({fds[1], fds[3], fds[4]}) == 3
    # Nothing else but the plugin's own asyncio loop (epoll + its self-pipe socketpair):
    # no descriptor of the gateway or of the zygote is inherited.
    assert fds[5] == "anon_inode:[eventpoll]"
    assert fds[6].startswith("socket:")
    assert fds[7].startswith("socket:")
    assert sorted(fds) == list(range(8)), fds
    assert seen["limits"] == {
        "RLIMIT_AS": [4096 * MIB, 4096 * MIB],
        "RLIMIT_CPU": [1, 2],
        "RLIMIT_NOFILE": [64, 64],
        "RLIMIT_FSIZE": [16 * MIB, 16 * MIB],
        "RLIMIT_CORE": [0, 0],
    }
    assert seen["flags"] == {"isolated": 1, "no_site": 1}


async def test_stray_replies_are_logged(client: AirlockClient) -> None:
    await register(client, "caller")
    with structlog.testing.capture_logs() as logs:
        # The action lingers after the answer, so that the second reply to the same call
        # arrives while the invocation still runs (not after its result).
        body = {"calls": [{"type": "input", "data": {}}], "then_sleep": 0.5}
        async with client.invoke("caller", body=body) as invocation:
            async for message in invocation:
                if isinstance(message, Call):
                    await invocation.reply("bogus", 1)
                    await invocation.reply(message.call_id, "x")
                    await invocation.reply(message.call_id, "again")
    assert invocation.result is not None
    assert invocation.result.value == ["x"]
    strays = [entry for entry in logs if entry["event"] == "stray_call_reply_dropped"]
    assert [entry["reason"] for entry in strays] == ["unknown call_id", "already answered or timed out"]
    assert all(entry["log_level"] == "warning" for entry in strays)


async def test_stopping_a_worker_that_never_became_ready_kills_it_at_once(tmp_path: Path) -> None:
    # A worker still waiting for its confine frame (a warm pool refilling when the gateway
    # stops, a start that failed) reaps nothing and never exits by itself: stop() must not
    # spare it, or its slot is held through the reap grace.
    script = tmp_path / "waiting-python"
    script.write_text("#!/bin/sh\nexec sleep 600\n")
    script.chmod(0o755)
    cgroups = Cgroups.detect()
    cgroups.prepare()
    profile = Profile(name="p", mode="fresh")
    process = await spawner(profile, str(script))()
    worker = Worker(process, cgroups.create("unready", Limits(memory_bytes=64 * MIB, pids=8, cpu_cores=1)), profile)
    try:
        await worker.stop()
        # Killed by stop() itself, not later by release()'s escalation after its grace.
        assert await worker.wait_exit(0.5) == -signal.SIGKILL
    finally:
        await worker.release()
        cgroups.release()
    assert not any(d.exists() for d in worker.cgroup.dirs.values())
