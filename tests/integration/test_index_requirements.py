"""Requirements from a package index: a real index served over HTTP on 127.0.0.1 in the test,
reached by the installer sandbox through the gateway's egress relay, layered over the
runtime, cached by hash; and every way it fails."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import grpc
import pytest

from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from tests import pkgindex
from tests.helpers import drain
from tests.integration.test_requirements import running
from tests.pkgindex import PackageIndex, unreachable_url, write_simple_index
from tests.wheels import build_wheel

pytestmark = pytest.mark.anyio

package_index_server = pkgindex.package_index_server
package_index = pkgindex.package_index


BLOB = os.urandom(12 * 1024 * 1024).hex()


def uses(requirements: str, module: str, attribute: str) -> str:
    """An action that imports ``module`` at load time and returns ``module.attribute`` and where it lives."""
    return f'''"""
title: Uses {module}
requirements: {requirements}
"""
import {module}

class Action:
    async def action(self, body):
        return {{"value": {module}.{attribute}, "file": {module}.__file__}}
'''


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo index, plus a ``pytz`` 2020.1 that the default runtime pins at another version."""
    root = pkgindex.demo_index(tmp_path_factory.mktemp("index"))
    built = root / "built-extra"
    old_pytz = build_wheel(built, "pytz", "2020.1", {"pytz/__init__.py": "__version__ = 'test-2020.1'\n"})
    # 24 MiB that does not compress: more than a small installer may write.
    big = build_wheel(built, "airlock-big", "1.0", {"airlock_big/__init__.py": "", "airlock_big/blob.txt": BLOB})
    write_simple_index(root, [old_pytz, big])
    return root


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, package_index_server: PackageIndex) -> GatewayConfig:
    # A wheel cache of the module's own: what the index serves must be fetched once here.
    return gateway_config.model_copy(
        update={
            "requirements_index_url": package_index_server.url,
            "requirements_timeout_seconds": 60.0,
            "wheel_cache_dir": gateway_config.data_dir.parent / "wheels",
        }
    )


@pytest.fixture(autouse=True)
def _index_as_new(package_index_server: PackageIndex) -> None:
    """Every test starts with an index that serves everything (a failure mode never leaks on)."""
    package_index_server.reset()


async def refused(client: AirlockClient, function_id: str, source: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.put_function(function_id, source)
    return info.value


async def test_a_requirement_comes_from_the_index_through_the_egress_relay(
    client: AirlockClient, package_index: PackageIndex
) -> None:
    record = await client.put_function("demo", uses("airlock-demo-index", "airlock_demo_index", "ORIGIN"))
    assert record.requirements_state == "ready"
    assert record.requirements_installed == ("airlock-demo-index==1.0", "airlock-index-leaf==0.2")
    # The installer sandbox has no network but the relay's: the index saw it resolve and fetch.
    assert "/simple/airlock-demo-index/" in package_index.requests
    assert any(path.endswith(".whl") for path in package_index.downloads())
    drained = await drain(client, "demo")
    assert drained.result.outcome is Outcome.OK
    assert drained.result.value["value"] != "old"
    assert drained.result.value["file"].startswith("/airlock/site/")


async def test_a_second_set_with_a_cached_wheel_downloads_nothing(
    client: AirlockClient, package_index: PackageIndex
) -> None:
    await client.put_function("first", uses("airlock-index-leaf==0.2", "airlock_index_leaf", "LEAF"))
    package_index.clear()
    # Every file download now fails: the second set, a different one, must come from the cache.
    package_index.refuse_downloads = True
    record = await client.put_function("second", uses("airlock-index-leaf>=0.2", "airlock_index_leaf", "LEAF"))
    assert record.requirements_installed == ("airlock-index-leaf==0.2",)
    assert package_index.downloads() == []
    assert "/simple/airlock-index-leaf/" in package_index.requests  # resolved against the index
    assert (await drain(client, "second")).result.value["value"] == "leaf"


async def test_what_the_runtime_has_is_not_installed_again(client: AirlockClient) -> None:
    record = await client.put_function("tz", uses("pytz", "pytz", "__version__"))
    assert record.requirements_state == "ready"
    assert record.requirements_installed == ()
    drained = await drain(client, "tz")
    assert drained.result.value["value"] == "2026.2"  # the runtime's (Open WebUI 0.12.4's pin)


async def test_a_pin_that_conflicts_with_the_runtime_wins_for_that_function(client: AirlockClient) -> None:
    record = await client.put_function("old_tz", uses("pytz==2020.1", "pytz", "__version__"))
    assert record.requirements_installed == ("pytz==2020.1",)
    assert (await drain(client, "old_tz")).result.value["value"] == "test-2020.1"
    # Other functions keep the runtime's.
    await client.put_function("runtime_tz", uses("", "pytz", "__version__"))
    assert (await drain(client, "runtime_tz")).result.value["value"] == "2026.2"


async def test_a_missing_package_is_refused_with_pips_words(client: AirlockClient) -> None:
    error = await refused(client, "missing", uses("airlock-no-such-package", "json", "__name__"))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "No matching distribution found for airlock-no-such-package" in (error.details() or "")


async def test_a_resolver_conflict_is_refused_with_pips_words(client: AirlockClient) -> None:
    error = await refused(
        client, "conflict", uses("airlock-demo-index==1.0, airlock-index-leaf<0.2", "json", "__name__")
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    details = error.details() or ""
    assert "installing requirements failed (pip resolution exited with status 1)" in details
    assert "conflict" in details.lower()


async def test_an_sdist_is_refused_naming_the_package_and_why(client: AirlockClient) -> None:
    error = await refused(client, "sdist", uses("airlock-sdist-only", "airlock_sdist_only", "SOURCE"))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    details = error.details() or ""
    assert "No matching distribution found for airlock-sdist-only" in details
    assert "Airlock installs wheels only" in details
    assert "building it would run its setup code" in details


async def test_a_templates_placeholder_is_not_a_requirement_list(client: AirlockClient) -> None:
    error = await refused(client, "template", uses("[List of dependencies, e.g., jinja2]", "json", "__name__"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid requirement '[List of dependencies'" in (error.details() or "")


async def test_concurrent_registrations_of_one_set_install_it_once(
    client: AirlockClient, package_index: PackageIndex
) -> None:
    source = uses("airlock-demo-index==0.9", "airlock_demo_index", "ORIGIN")
    async with anyio.create_task_group() as tg:
        for number in range(3):
            tg.start_soon(client.put_function, f"same_{number}", source)
    wheel = [path for path in package_index.downloads() if "airlock_demo_index-0.9" in path]
    assert len(wheel) == 1
    records = [await client.get_function(f"same_{number}") for number in range(3)]
    assert len({r.requirements_digest for r in records}) == 1


async def test_an_unreachable_index_fails_fast_with_pips_last_lines(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(
        update={"requirements_index_url": unreachable_url(), "data_dir": gateway_config.data_dir.parent / "unreachable"}
    )
    async with running(config) as client:
        began = time.monotonic()
        error = await refused(client, "far", uses("airlock-demo-index", "json", "__name__"))
        assert time.monotonic() - began < config.requirements_timeout_seconds
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "No matching distribution found for airlock-demo-index" in (error.details() or "")


@pytest.fixture
def hanging_index(package_index: PackageIndex) -> Iterator[PackageIndex]:
    package_index.hang = True
    yield package_index
    package_index.hang = False


async def test_an_install_over_time_is_cut_off_and_the_gateway_serves_on(
    gateway_config: GatewayConfig, hanging_index: PackageIndex
) -> None:
    config = gateway_config.model_copy(
        update={"requirements_timeout_seconds": 4.0, "data_dir": gateway_config.data_dir.parent / "hanging"}
    )
    async with running(config) as client:
        await client.put_function("plain", uses("", "json", "__name__"))
        outcomes: list[Outcome] = []

        async def meanwhile() -> None:
            await anyio.sleep(0.5)
            outcomes.append((await drain(client, "plain")).result.outcome)

        async with anyio.create_task_group() as tg:
            tg.start_soon(meanwhile)
            error = await refused(client, "slow", uses("airlock-demo-index", "json", "__name__"))
        assert outcomes == [Outcome.OK]
        assert [f.id for f in await client.list_functions()] == ["plain"]  # nothing half-registered
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "took longer than requirements_timeout_seconds=4" in (error.details() or "")


async def test_the_deny_list_covers_dependencies_from_the_index(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(
        update={"requirements_deny": ("airlock-index-leaf",), "data_dir": gateway_config.data_dir.parent / "deny"}
    )
    async with running(config) as client:
        error = await refused(client, "denied", uses("airlock-demo-index", "airlock_demo_index", "ORIGIN"))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "package 'airlock-index-leaf' (pulled in as a dependency) is denied by requirements_deny" in (
        error.details() or ""
    )


async def test_an_install_over_its_disk_is_refused_and_nothing_is_left(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(
        update={"requirements_disk_mib": 16, "data_dir": gateway_config.data_dir.parent / "small-disk"}
    )
    async with running(config) as client:
        error = await refused(client, "big", uses("airlock-big", "airlock_big", "__name__"))
        assert await client.list_functions() == []
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    details = error.details() or ""
    assert "installing requirements failed" in details
    # pip downloads into the installer's /tmp first: a tmpfs of requirements_disk_mib.
    assert "OSError: [Errno 28] No space left on device" in details, details
    requirements = config.data_dir / "requirements"
    assert [entry.name for entry in requirements.iterdir()] == []  # nothing staged stays, nothing half-published
