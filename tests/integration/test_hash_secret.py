"""Python's string-hash secret: shared by the forks of one zygote, fresh for each spawned worker.

docs/SECURITY.md ("Shared layout") explains why warm workers keep their zygote's secret
(re-seeding a forked interpreter breaks every str-keyed dict it already holds) and what a
plugin can do with it. These tests pin the behaviour that page describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from airlock.client import AirlockClient, Outcome
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio

FRESH_PROFILE = 'description = "tests: a spawned interpreter per invocation"\nmode = "fresh"\n'


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path) -> Path:
    (profiles_dir / "spawned.toml").write_text(FRESH_PROFILE)
    return profiles_dir


async def probe(client: AirlockClient, function_id: str) -> dict[str, Any]:
    drained = await drain(client, function_id)
    assert drained.result.outcome is Outcome.OK, drained.result
    value: dict[str, Any] = orjson.loads(drained.result.value_json)
    return value


def own_hash() -> int:
    return hash("".join(["air", "lock"]))


async def test_warm_workers_of_one_zygote_share_the_hash_secret(client: AirlockClient) -> None:
    await register(client, "hash_probe", "warm_probe")  # the default profile is warm
    first, second = await probe(client, "warm_probe"), await probe(client, "warm_probe")
    assert first["hash"] == second["hash"], "documented in docs/SECURITY.md: forks keep the zygote's secret"
    # The zygote was spawned with an empty environment: its secret is its own, not the gateway's.
    assert first["hash"] != own_hash()


async def test_fresh_workers_each_get_their_own_hash_secret(client: AirlockClient) -> None:
    await register(client, "hash_probe", "fresh_probe", profile="spawned")
    seen = {(await probe(client, "fresh_probe"))["hash"] for _ in range(3)}
    assert len(seen) == 3
    assert own_hash() not in seen
