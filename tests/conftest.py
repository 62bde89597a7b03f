"""Shared fixtures: a real gateway on port 0 with a test profile set, and a client."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from airlock.client import AirlockClient
from gateway.config import GatewayConfig
from gateway.profiles.loader import shipped_profiles_dir
from gateway.server import Gateway

PLUGINS = Path(__file__).parent / "plugins"

#: A profile with short limits so that limit tests finish quickly.
FAST_PROFILE = """
description = "tests: short limits"
wall_seconds = 3
session_seconds = 20
cpu_seconds = 1
call_timeout_seconds = 5
stdio_bytes = 65536
output_keep_bytes = 1024
output_bytes = 262144
frame_bytes = 65536
max_events = 200
"""


#: One worker at a time, to test queueing.
SINGLE_PROFILE = """
description = "tests: one worker at a time"
wall_seconds = 2
max_concurrent = 1
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def plugin_source(name: str) -> str:
    """The source of tests/plugins/<name>.py."""
    return (PLUGINS / f"{name}.py").read_text()


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "profiles"
    shutil.copytree(shipped_profiles_dir(), directory)
    (directory / "fast.toml").write_text(FAST_PROFILE)
    (directory / "single.toml").write_text(SINGLE_PROFILE)
    return directory


@pytest.fixture
def gateway_config(tmp_path: Path, profiles_dir: Path) -> GatewayConfig:
    # Pools start with a profile's first invocation: five zygotes per test would be waste.
    return GatewayConfig(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        profiles_dir=profiles_dir,
        warm_up=False,
    )


@pytest.fixture
async def gateway(gateway_config: GatewayConfig) -> AsyncIterator[Gateway]:
    gw = Gateway(gateway_config)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop(0)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[AirlockClient]:
    async with AirlockClient(gateway.address) as c:
        yield c
