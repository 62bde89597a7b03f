"""Shared fixtures: real gateways on port 0 with a test profile set, and clients.

One gateway serves a whole test module (``gateway``, ``client``): starting one costs a
zygote, a registration in a sandbox and a few hundred milliseconds of process starts, and
most tests only invoke functions through it. A test that changes a gateway's state in a way
its neighbours would see (its settings, its metrics, draining it, stopping it) takes
``private_gateway``/``private_client``, or builds its own ``Gateway``.

Nothing here depends on the caller's environment: the developer's ``AIRLOCK_*`` variables
are removed for the whole session (see ``_no_airlock_environment``).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from airlock.client import AirlockClient
from gateway.config import ENV_PREFIX, GatewayConfig
from gateway.profiles.loader import RUNTIMES_SUBDIR, shipped_profiles_dir
from gateway.profiles.runtimes import DEFAULT_RUNTIME, load_runtimes
from gateway.sandbox import probe
from gateway.sandbox.confinement import Imports
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


@pytest.fixture(scope="session", autouse=True)
def _no_airlock_environment() -> Iterator[None]:
    """Run every test without the caller's ``AIRLOCK_*`` variables.

    A gateway's settings read them (an exported admin token would turn every test's
    requests UNAUTHENTICATED), and so do the ``airlock`` commands the CLI tests start.
    Two are set instead: every gateway, those the CLI tests start included, shares the
    tests' built runtimes and wheel cache (see TEST_RUNTIMES).
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
            patch.delenv(name)
        for name, value in shared_settings().items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """One backend (and one event loop) for the session, so that gateways can be shared."""
    return "asyncio"


@functools.cache
def probed() -> probe.HostSupport:
    """The host probe, run once: what the host offers does not change during a session."""
    return probe.probe()


@pytest.fixture(scope="session")
def host_support() -> probe.HostSupport:
    """The host probe's result (see ``probed``)."""
    return probed()


def plugin_source(name: str) -> str:
    """The source of tests/plugins/<name>.py."""
    return (PLUGINS / f"{name}.py").read_text()


def write_profiles(directory: Path) -> Path:
    """A copy of the shipped profiles plus the test profiles ``fast`` and ``single``."""
    shutil.copytree(shipped_profiles_dir(), directory)
    (directory / "fast.toml").write_text(FAST_PROFILE)
    (directory / "single.toml").write_text(SINGLE_PROFILE)
    return directory


#: Where the tests' gateways keep built runtimes: shared by every gateway of every session
#: (runtimes are content-addressed and gateways may share the directory), so the default
#: runtime is built once per checkout, by the first session that needs it.
TEST_RUNTIMES = Path(__file__).resolve().parent.parent / ".test-runtimes"
TEST_WHEELS = TEST_RUNTIMES / "wheels"


def shared_settings() -> dict[str, str]:
    """The ``AIRLOCK_*`` variables every test gateway gets: the shared runtimes and wheel cache.

    Tests that clear the environment to start an ``airlock`` command keep these, or each
    such gateway would build the default runtime again.
    """
    return {f"{ENV_PREFIX}RUNTIMES_DIR": str(TEST_RUNTIMES), f"{ENV_PREFIX}WHEEL_CACHE_DIR": str(TEST_WHEELS)}


def command_environment(**variables: str) -> dict[str, str]:
    """The environment for an ``airlock`` command a test starts: none of the caller's
    ``AIRLOCK_*`` settings, the shared ones (shared_settings), then ``variables``."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    return inherited | shared_settings() | variables


def default_runtime_dir() -> Path:
    """Where the shipped default runtime is built for the tests."""
    spec = load_runtimes(shipped_profiles_dir() / RUNTIMES_SUBDIR)[DEFAULT_RUNTIME]
    return TEST_RUNTIMES / spec.digest


def sandbox_binds() -> tuple[str, ...]:
    """The import binds of a sandbox of a profile on the default runtime."""
    return Imports.runtime(default_runtime_dir()).binds


def config_for(directory: Path, profiles: Path) -> GatewayConfig:
    """Test settings: port 0 for both listeners, data below ``directory``."""
    # Pools start with a profile's first invocation: five zygotes per gateway would be waste.
    return GatewayConfig(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        data_dir=directory / "data",
        profiles_dir=profiles,
        runtimes_dir=TEST_RUNTIMES,
        wheel_cache_dir=TEST_WHEELS,
        warm_up=False,
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the default runtime before the first test that starts a gateway (once per checkout).

    Here rather than in a fixture: the build takes minutes on a fresh machine (pip downloads
    the runtime from the configured index), which no test's timeout should absorb. The unit
    tests start no gateway and need no runtime.
    """
    if default_runtime_dir().is_dir() or all("tests/unit/" in item.nodeid for item in session.items):
        return
    with tempfile.TemporaryDirectory(prefix="airlock-runtime-build-") as temporary:
        directory = Path(temporary)
        config = config_for(directory, write_profiles(directory / "profiles"))
        with pytest.MonkeyPatch.context() as patch:
            for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
                patch.delenv(name)
            failures = anyio.run(Gateway(config, host=probed()).build_only)
    if failures:
        raise pytest.UsageError(f"the default runtime failed to build: {failures}")


@pytest.fixture(scope="module")
def profiles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's profile directory (modules override it to add profiles)."""
    return write_profiles(tmp_path_factory.mktemp("gateway") / "profiles")


@pytest.fixture(scope="module")
def gateway_config(profiles_dir: Path) -> GatewayConfig:
    """The module gateway's settings (modules override it to change them)."""
    return config_for(profiles_dir.parent, profiles_dir)


@asynccontextmanager
async def running_gateway(config: GatewayConfig, host: probe.HostSupport | None = None) -> AsyncIterator[Gateway]:
    """A started gateway for the length of a block, stopped at once after it."""
    gw = Gateway(config, host=host)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop(0)


@pytest.fixture(scope="module")
async def gateway(gateway_config: GatewayConfig, host_support: probe.HostSupport) -> AsyncIterator[Gateway]:
    """The gateway every test of the module shares."""
    async with running_gateway(gateway_config, host_support) as gw:
        yield gw


@pytest.fixture(scope="module")
async def client(gateway: Gateway) -> AsyncIterator[AirlockClient]:
    """A client of the module's gateway."""
    async with AirlockClient(gateway.address) as c:
        yield c


@pytest.fixture
def private_profiles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile directory of the test's own.

    In a short directory of its own, not in ``tmp_path`` (named after the test): the data
    directory holds unix sockets, whose paths must stay under 108 bytes.
    """
    return write_profiles(tmp_path_factory.mktemp("gateway") / "profiles")


@pytest.fixture
def private_config(private_profiles_dir: Path) -> GatewayConfig:
    """Settings of a gateway of the test's own."""
    return config_for(private_profiles_dir.parent, private_profiles_dir)


@pytest.fixture
async def private_gateway(private_config: GatewayConfig, host_support: probe.HostSupport) -> AsyncIterator[Gateway]:
    """A gateway of the test's own, for tests that change or inspect its state."""
    async with running_gateway(private_config, host_support) as gw:
        yield gw


@pytest.fixture
async def private_client(private_gateway: Gateway) -> AsyncIterator[AirlockClient]:
    """A client of the test's own gateway."""
    async with AirlockClient(private_gateway.address) as c:
        yield c
