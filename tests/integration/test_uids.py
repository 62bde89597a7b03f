"""Sandbox uids: two gateways of one host never hand out the same uid; the range is a setting.

What a sandbox runs as is read from outside, in /proc/<pid>/status of its worker (the
kernel's view, which nothing inside the sandbox can change).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.profiles import load_profiles
from gateway.sandbox.launcher import worst_case_sandboxes
from gateway.server import Gateway
from gateway.uids import UidsUnavailable
from tests.conftest import probed, running_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


# Each test starts gateways of its own.
@pytest.fixture
def gateway_config(private_config: GatewayConfig) -> GatewayConfig:
    return private_config


#: A range no other test uses (the claim protocol would keep them apart anyway).
FIRST = 7_000_000
#: Enough for the test profiles' worst case (2 x max_concurrent + warm_pool_size each).
PER_GATEWAY = 200


def host_uid(pid: int) -> int:
    """The real uid of ``pid`` as the host's kernel reports it."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@asynccontextmanager
async def started(config: GatewayConfig, name: str) -> AsyncIterator[Gateway]:
    async with running_gateway(config.model_copy(update={"data_dir": config.data_dir / name}), probed()) as gateway:
        yield gateway


async def sandbox_uids(gateway: Gateway, count: int) -> set[int]:
    """The host uids of ``count`` sandboxes of ``gateway`` running at the same time."""
    profile = gateway.profiles["default"]
    async with AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(gateway.launcher.worker(profile)) for _ in range(count)]
        uids = {host_uid(worker.pid) for worker in workers}
    assert len(uids) == count, "two sandboxes of one gateway shared a uid"
    return uids


async def test_two_gateways_running_at_once_run_their_sandboxes_as_disjoint_uids(
    gateway_config: GatewayConfig,
) -> None:
    async with started(gateway_config, "a") as a, started(gateway_config, "b") as b:
        uids_a, uids_b = await sandbox_uids(a, 3), await sandbox_uids(b, 3)
        slice_a, slice_b = a.launcher.uids.range, b.launcher.uids.range
    assert not uids_a & uids_b
    assert not slice_a.overlaps(slice_b)
    assert all(slice_a.first <= uid <= slice_a.last for uid in uids_a)
    assert all(slice_b.first <= uid <= slice_b.last for uid in uids_b)


async def test_a_configured_uid_range_is_honoured(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(
        update={
            "sandbox_uid_first": FIRST,
            "sandbox_uid_count": 2 * PER_GATEWAY,
            "sandbox_uids_per_gateway": PER_GATEWAY,
        }
    )
    async with started(config, "a") as gateway:
        uids = await sandbox_uids(gateway, 2)
    assert all(FIRST <= uid < FIRST + 2 * PER_GATEWAY for uid in uids), uids


async def test_a_gateway_finding_every_slice_taken_says_so_and_starts_once_one_is_free(
    gateway_config: GatewayConfig, tmp_path: Path
) -> None:
    locks = tmp_path / "uid-locks"
    config = gateway_config.model_copy(
        update={
            "sandbox_uid_first": FIRST + 10_000,
            "sandbox_uid_count": 2 * PER_GATEWAY,
            "sandbox_uids_per_gateway": PER_GATEWAY,
            "sandbox_uid_lock_dir": locks,
        }
    )
    async with started(config, "a"):
        async with started(config, "b"):
            with pytest.raises(UidsUnavailable) as refused:
                Gateway(config.model_copy(update={"data_dir": config.data_dir / "c"}), host=probed())
        async with started(config, "c") as c:  # b's slice is free again
            assert c.launcher.uids.range.first == FIRST + 10_000 + PER_GATEWAY
    first, last = FIRST + 10_000, FIRST + 10_000 + 2 * PER_GATEWAY - 1
    assert str(refused.value).startswith(
        f"every slice of {PER_GATEWAY} sandbox uids in {first}-{last} is taken by other gateways on this host ("
    )
    assert re.search(rf"{first}-{first + PER_GATEWAY - 1} \(pid \d+\)", str(refused.value))
    assert f"lock files in {locks}" in str(refused.value)


async def test_a_slice_smaller_than_the_profiles_can_fill_is_refused(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(update={"sandbox_uids_per_gateway": 10})
    with pytest.raises(AirlockError, match=r"sandbox_uids_per_gateway=10 is below the \d+ sandboxes the profiles"):
        Gateway(config, host=probed())


async def test_requirement_installers_count_towards_the_slice(gateway_config: GatewayConfig, tmp_path: Path) -> None:
    # The profiles and the runtime builder (2 x max_concurrent 1 at worst) fit without
    # installs; with them on, the two installer sandboxes (2 x max_concurrent 2) no longer do.
    profiles = load_profiles(gateway_config.profiles_dir)
    needed = sum(worst_case_sandboxes(p) for p in profiles.values()) + 2
    locks = tmp_path / "uid-locks"
    locks.mkdir(mode=0o700)
    config = gateway_config.model_copy(
        update={"sandbox_uids_per_gateway": needed, "sandbox_uid_lock_dir": locks, "requirements_install": False}
    )
    gateway = Gateway(config, host=probed())
    await gateway.stop(0)
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    installing = config.model_copy(update={"requirements_install": True, "requirements_wheelhouse": wheelhouse})
    with pytest.raises(AirlockError, match=rf"sandbox_uids_per_gateway={needed} is below the {needed + 4} sandboxes"):
        Gateway(installing, host=probed())
