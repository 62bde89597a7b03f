"""A gateway that fails to start says why and leaves nothing behind.

A malformed registry row refuses the start, naming the row and the file, and stays in the
file; a start that fails after the gRPC port was bound frees the port, its cgroup
directories, the data directory's lock and its uid slice, and starts no task.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
from pathlib import Path

import orjson
import pytest

from airlock.client import AirlockClient
from gateway.config import GatewayConfig
from gateway.datadir import DataDirLock
from gateway.errors import AirlockError
from gateway.sandbox.cgroups import Cgroups
from gateway.server import Gateway
from gateway.uids import UidRange, claim_slice
from tests.conftest import plugin_source, probed

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


# Each test starts (and breaks) gateways of its own.
@pytest.fixture
def gateway_config(private_config: GatewayConfig) -> GatewayConfig:
    return private_config


def cgroup_dirs_of_this_process() -> set[Path]:
    """The cgroup directories of this process's gateways that exist (in every hierarchy)."""
    found: set[Path] = set()
    for root in Cgroups.detect().roots.values():
        process_dir = root.parent  # airlock/gw-<pid>-<start time>/<gateway number>
        if process_dir.is_dir():
            found |= {p for p in process_dir.iterdir() if p.is_dir()}
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def registered(config: GatewayConfig, *names: str) -> None:
    gateway = Gateway(config, host=probed())
    await gateway.start()
    try:
        async with AirlockClient(gateway.address) as client:
            for name in names:
                await client.put_function(name, plugin_source(name))
    finally:
        await gateway.stop(0)


async def test_a_malformed_registry_row_refuses_the_start_naming_the_row_and_the_file(
    gateway_config: GatewayConfig,
) -> None:
    await registered(gateway_config, "emitter", "valves")
    database = gateway_config.data_dir / "registry.sqlite3"
    with sqlite3.connect(database) as db:
        (raw,) = db.execute("SELECT record FROM functions WHERE id = 'emitter'").fetchone()
        record = orjson.loads(raw)
        del record["source"]
        record["priority"] = "high"
        db.execute("UPDATE functions SET record = ? WHERE id = 'emitter'", (orjson.dumps(record).decode(),))
    before = cgroup_dirs_of_this_process()

    with pytest.raises(AirlockError) as refused:
        Gateway(gateway_config, host=probed())

    message = str(refused.value)
    assert message.startswith(f"{database}: the row of function 'emitter' is malformed (")
    assert "source: Field required" in message
    assert "priority: Input should be a valid integer" in message
    # Nothing was dropped: both rows are still there, the bad one as it was.
    with sqlite3.connect(database) as db:
        rows = dict(db.execute("SELECT id, record FROM functions").fetchall())
    assert sorted(rows) == ["emitter", "valves"]
    assert orjson.loads(rows["emitter"]) == record
    # The half-built gateway gave back what it had taken before it read the registry.
    assert cgroup_dirs_of_this_process() <= before
    lock = DataDirLock(gateway_config.data_dir)
    lock.acquire()
    lock.release()


async def test_a_start_failing_after_the_port_was_bound_leaves_nothing_behind(
    gateway_config: GatewayConfig, tmp_path: Path
) -> None:
    uid_locks = tmp_path / "uids"
    uid_locks.mkdir(mode=0o700)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = f"127.0.0.1:{taken.getsockname()[1]}"
        config = gateway_config.model_copy(
            update={"metrics_listen": metrics, "sandbox_uid_lock_dir": uid_locks, "warm_up": True}
        )
        cgroups_before = cgroup_dirs_of_this_process()
        tasks_before = asyncio.all_tasks()
        gateway = Gateway(config, host=probed())
        own = set(gateway.launcher.cgroups.roots.values())
        assert own <= cgroup_dirs_of_this_process(), "it had made its cgroups"
        assert not own & cgroups_before

        with pytest.raises(AirlockError, match=re.escape(f"cannot serve metrics on {metrics}")):
            await gateway.start()

        assert gateway.port is not None  # the gRPC port had been bound...
        assert port_is_free(gateway.port)  # ...and is free again
        assert not any(p.exists() for p in own)
        assert cgroup_dirs_of_this_process() <= cgroups_before
        assert asyncio.all_tasks() <= tasks_before
        # Its uid slice, the first of the range in this private lock directory, is free.
        wanted = UidRange(config.sandbox_uid_first, config.sandbox_uid_count)
        claimed = claim_slice(uid_locks, wanted, config.sandbox_uids_per_gateway)
        assert claimed.range.first == config.sandbox_uid_first
        claimed.release()
        await gateway.stop(0)  # nothing left to do
        with pytest.raises(AirlockError, match="has been stopped"):
            await gateway.start()

    # The data directory and the uid slice are free: the same settings start a gateway.
    again = Gateway(config.model_copy(update={"metrics_listen": ""}), host=probed())
    await again.start()
    await again.stop(0)
