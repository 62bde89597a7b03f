"""Frontmatter requirements: installed in the installer sandbox from a wheelhouse built here,
shared by content address, bound read-only into the function's sandboxes, refused clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import grpc
import orjson
import pytest

from airlock.client import AirlockClient, Outcome
from airlock.domain.functions import FunctionRecord
from airlock.domain.progress import Progress, Stage
from gateway.config import GatewayConfig
from runner.main import STANDINS
from tests.conftest import probed, running_gateway
from tests.helpers import drain
from tests.integration.test_cli import serving, write
from tests.wheels import demo_wheelhouse

pytestmark = pytest.mark.anyio

FRESH_PROFILE = 'description = "tests: a new interpreter per worker"\nmode = "fresh"\n'


def uses(requirements: str, module: str = "airlock_demo", attribute: str = "VALUE") -> str:
    """An action that imports ``module`` at load time and reports where it came from."""
    return f'''"""
title: Uses {module}
requirements: {requirements}
"""
import os, sys
import {module}

class Action:
    async def action(self, body):
        return {{
            "value": {module}.{attribute},
            "file": {module}.__file__,
            "cached": os.path.exists({module}.__cached__),
            "path": sys.path[:2],
        }}
'''


# Every test here looks at what its gateway installed on disk: each has a gateway of its own.


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    return demo_wheelhouse(tmp_path / "wheelhouse")


@pytest.fixture
def private_profiles_dir(private_profiles_dir: Path) -> Path:
    (private_profiles_dir / "fresh.toml").write_text(FRESH_PROFILE)
    return private_profiles_dir


@pytest.fixture
def profiles_dir(private_profiles_dir: Path) -> Path:
    return private_profiles_dir


@pytest.fixture
def private_config(private_config: GatewayConfig, wheelhouse: Path) -> GatewayConfig:
    return private_config.model_copy(
        update={
            "requirements_install": True,
            "requirements_wheelhouse": wheelhouse,
            "requirements_deny": ("airlock-evil",),
            "requirements_timeout_seconds": 60.0,
        }
    )


@pytest.fixture
def gateway_config(private_config: GatewayConfig) -> GatewayConfig:
    return private_config


@pytest.fixture
def client(private_client: AirlockClient) -> AirlockClient:
    return private_client


@asynccontextmanager
async def running(config: GatewayConfig) -> AsyncIterator[AirlockClient]:
    """A gateway and a client for the length of a block (tests that restart or reconfigure)."""
    async with running_gateway(config, probed()) as gateway, AirlockClient(gateway.address) as client:
        yield client


def sets_on_disk(config: GatewayConfig) -> list[str]:
    """Installed set directories (not manifests, not staging leftovers)."""
    root = config.data_dir / "requirements"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


async def put_with_progress(client: AirlockClient, function_id: str, source: str, **kw: Any) -> list[Any]:
    return [item async for item in client.put_function_with_progress(function_id, source, **kw)]


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@pytest.mark.parametrize("profile", ["default", "fresh"])
async def test_a_function_imports_its_installed_requirement(
    client: AirlockClient, gateway_config: GatewayConfig, profile: str
) -> None:
    record = await client.put_function("demo", uses("airlock-demo>=1.0"), profile=profile)
    assert record.requirements == ("airlock-demo>=1.0",)
    assert record.requirements_state == "ready"
    assert record.requirements_installed == ("airlock-demo==1.0",)
    assert sets_on_disk(gateway_config) == [record.requirements_digest]
    drained = await drain(client, "demo")
    assert drained.result.outcome is Outcome.OK, drained.result
    assert orjson.loads(drained.result.value_json) == {
        "value": 42,
        "file": "/airlock/site/airlock_demo/__init__.py",
        "cached": True,  # compiled at install time: nothing is compiled (or writable) at run time
        # After the open_webui stand-ins, which nothing installed may replace.
        "path": [STANDINS, "/airlock/site"],
    }


async def test_dependencies_are_installed_and_listed(client: AirlockClient) -> None:
    source = uses("airlock-parent", "airlock_parent", "airlock_leaf.LEAF")
    record = await client.put_function("parent", source)
    assert record.requirements_installed == ("airlock-leaf==0.1", "airlock-parent==1.0")
    drained = await drain(client, "parent")
    assert orjson.loads(drained.result.value_json)["value"] is True


async def test_functions_with_the_same_set_share_one_directory(
    client: AirlockClient, gateway_config: GatewayConfig
) -> None:
    first = await client.put_function("one", uses("airlock-demo>=1.0, airlock-other"))
    # Another spelling of the same set: names normalise, order does not matter.
    items = await put_with_progress(client, "two", uses("Airlock_Other , AIRLOCK.demo >= 1.0"))
    second = items[-1]
    assert isinstance(second, FunctionRecord)
    assert second.requirements == first.requirements == ("airlock-demo>=1.0", "airlock-other")
    assert second.requirements_digest == first.requirements_digest
    assert [p.stage for p in items[:-1]] == [Stage.CHECKING, Stage.REUSED, Stage.LOADING]
    assert sets_on_disk(gateway_config) == [first.requirements_digest]
    other = await client.put_function("three", uses("airlock-other", "airlock_other", "NAME"))
    assert other.requirements_digest != first.requirements_digest
    assert sets_on_disk(gateway_config) == sorted([first.requirements_digest, other.requirements_digest])
    for function_id in ("one", "two", "three"):
        assert (await drain(client, function_id)).result.outcome is Outcome.OK


async def test_progress_shows_the_stages_in_order_then_the_function(client: AirlockClient) -> None:
    items = await put_with_progress(client, "demo", uses("airlock-demo"))
    assert isinstance(items[-1], FunctionRecord)
    assert items[-1].requirements_state == "ready"
    progress = [item for item in items[:-1] if isinstance(item, Progress)]
    assert len(progress) == len(items) - 1
    stages = [p.stage for p in progress if p.stage is not Stage.OUTPUT]
    assert stages == [Stage.CHECKING, Stage.INSTALLING, Stage.VERIFYING, Stage.INSTALLED, Stage.LOADING]
    output = [p.message for p in progress if p.stage is Stage.OUTPUT]
    # pip's own lines, between INSTALLING and VERIFYING.
    assert any("Successfully installed airlock-demo-1.0" in line for line in output), output
    first_output = next(i for i, p in enumerate(progress) if p.stage is Stage.OUTPUT)
    last_output = max(i for i, p in enumerate(progress) if p.stage is Stage.OUTPUT)
    assert progress[first_output - 1].stage is Stage.INSTALLING
    assert progress[last_output + 1].stage is Stage.VERIFYING
    assert progress[-2].message == "airlock-demo==1.0"


@pytest.mark.parametrize(
    ("requirements", "named"),
    [
        ("airlock-demo, -e .", "'-e .' is a pip option"),
        ("--index-url https://evil.example/simple", "is a pip option"),
        ("airlock-demo @ https://evil.example/x.whl", "names a URL, path or VCS reference"),
        ("./local/path", "invalid requirement './local/path'"),
        ("airlock demo!!", "invalid requirement 'airlock demo!!'"),
    ],
)
async def test_a_bad_spec_is_invalid_argument_naming_it(
    client: AirlockClient, gateway_config: GatewayConfig, requirements: str, named: str
) -> None:
    error = await rpc_error(client.put_function("bad", uses(requirements)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in (error.details() or "")
    assert sets_on_disk(gateway_config) == []
    assert (await rpc_error(client.get_function("bad"))).code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ("airlock-evil", "package 'airlock-evil' (required by the function) is denied by requirements_deny"),
        ("airlock-sneaky", "package 'airlock-evil' (pulled in as a dependency) is denied by requirements_deny"),
    ],
)
async def test_a_denied_package_is_failed_precondition_naming_it_and_the_setting(
    client: AirlockClient, gateway_config: GatewayConfig, requirements: str, message: str
) -> None:
    error = await rpc_error(client.put_function("denied", uses(requirements)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == message
    # The dependency was only found after pip resolved it: its staging directory is gone.
    assert list((gateway_config.data_dir / "requirements").glob("*")) == []
    assert (await rpc_error(client.get_function("denied"))).code() == grpc.StatusCode.NOT_FOUND


async def test_a_missing_package_fails_with_pips_error(client: AirlockClient, gateway_config: GatewayConfig) -> None:
    error = await rpc_error(client.put_function("missing", uses("airlock-nowhere>=1")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = error.details() or ""
    assert details.startswith("installing requirements failed (pip resolution exited with status 1): ")
    assert "No matching distribution found for airlock-nowhere>=1" in details
    assert list((gateway_config.data_dir / "requirements").glob("*")) == []
    assert (await rpc_error(client.get_function("missing"))).code() == grpc.StatusCode.NOT_FOUND


async def test_a_pip_failure_ends_the_progress_stream_with_pips_error(client: AirlockClient) -> None:
    seen: list[Progress | FunctionRecord] = []

    async def watch() -> None:
        async for item in client.put_function_with_progress("broken", uses("airlock-broken")):
            seen.append(item)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await watch()
    assert all(isinstance(item, Progress) for item in seen)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = caught.value.details() or ""
    assert "installing requirements failed (pip resolution exited with status 1)" in details
    assert "ERROR: Wheel 'airlock-broken' located at " in details, details
    assert details.endswith("airlock_broken-1.0-py3-none-any.whl is invalid.")
    stages = [p.stage for p in seen if isinstance(p, Progress)]
    assert stages[:2] == [Stage.CHECKING, Stage.INSTALLING]
    assert Stage.OUTPUT in stages
    assert Stage.LOADING not in stages


@pytest.mark.parametrize("allow", [("airlock-other",)])
async def test_the_allow_list_refuses_everything_else(gateway_config: GatewayConfig, allow: tuple[str, ...]) -> None:
    config = gateway_config.model_copy(update={"requirements_allow": allow})
    async with running(config) as client:
        error = await rpc_error(client.put_function("demo", uses("airlock-demo")))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error.details() == "package 'airlock-demo' (required by the function) is not in requirements_allow"
        record = await client.put_function("other", uses("airlock-other", "airlock_other", "NAME"))
        assert record.requirements_state == "ready"


async def test_installs_off_skip_requirements_and_load_like_upstream(gateway_config: GatewayConfig) -> None:
    config = gateway_config.model_copy(update={"requirements_install": False})
    lazy = uses("airlock-demo>=1,<2, -e not-even-parsed").replace("import airlock_demo\n", "")
    async with running(config) as client:
        items = await put_with_progress(client, "lazy", lazy)
        record = items[-1]
        assert isinstance(record, FunctionRecord)
        assert [p.stage for p in items[:-1]] == [Stage.SKIPPED, Stage.LOADING]
        assert record.requirements == ("airlock-demo>=1,<2", "-e not-even-parsed")
        assert (record.requirements_state, record.requirements_digest) == ("skipped", "")
        # A source that imports its requirement at load time fails to load, as upstream's would.
        error = await rpc_error(client.put_function("eager", uses("airlock-demo")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "ModuleNotFoundError: No module named 'airlock_demo'" in (error.details() or "")
    assert sets_on_disk(config) == []


async def test_a_restarted_gateway_keeps_running_functions_with_requirements(
    gateway_config: GatewayConfig,
) -> None:
    async with running(gateway_config) as client:
        record = await client.put_function("demo", uses("airlock-demo"))
        await client.put_function("gone", uses("airlock-other", "airlock_other", "NAME"))
        gone = (await client.get_function("gone")).requirements_digest
        await client.delete_function("gone")
    async with running(gateway_config) as client:
        again = await client.get_function("demo")
        assert (again.requirements_digest, again.requirements_state) == (record.requirements_digest, "ready")
        drained = await drain(client, "demo")
        assert orjson.loads(drained.result.value_json)["value"] == 42
    # The set of the deleted function was collected at start; the other one stays.
    assert sets_on_disk(gateway_config) == [record.requirements_digest]
    assert gone not in sets_on_disk(gateway_config)


async def test_a_missing_set_makes_the_function_fail_clearly(gateway_config: GatewayConfig) -> None:
    async with running(gateway_config) as client:
        record = await client.put_function("demo", uses("airlock-demo"))
    site = gateway_config.data_dir / "requirements" / record.requirements_digest
    site.rename(site.with_name("moved-away"))
    async with running(gateway_config) as client:
        again = await client.get_function("demo")
        assert again.requirements_state == "failed"
        assert "is missing from the data directory; put the function again" in again.requirements_error
        async with client.invoke("demo") as invocation:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in invocation:
                    pass
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "cannot run: its requirement set" in (caught.value.details() or "")
        fixed = await client.put_function("demo", uses("airlock-demo"))
        assert fixed.requirements_state == "ready"
        assert (await drain(client, "demo")).result.outcome is Outcome.OK


def test_airlock_put_shows_progress_on_stderr_and_the_set_on_stdout(
    tmp_path: Path, profiles_dir: Path, wheelhouse: Path
) -> None:
    options = ("--requirements-install", "--requirements-wheelhouse", str(wheelhouse))
    with serving(tmp_path, profiles_dir, *options) as server:
        path = write(tmp_path, "parent", uses("airlock-parent", "airlock_parent", "airlock_leaf.LEAF"))
        done = server.run("put", str(path))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[1:3] == ["  buttons: parent", lines[2]]
        assert lines[2].startswith("  requirements: ready, set ")
        assert lines[2].endswith(": airlock-leaf==0.1, airlock-parent==1.0")
        progress = done.stderr.splitlines()
        assert progress[0].startswith("checking: 1 requirements, set ")
        assert progress[1] == "installing: airlock-parent"
        assert "    Successfully installed airlock-leaf-0.1 airlock-parent-1.0" in progress
        assert progress[-3:] == [
            "verifying: 2 packages",
            "installed: airlock-leaf==0.1, airlock-parent==1.0",
            "loading: profile default",
        ]
        refused = server.run("put", str(write(tmp_path, "nowhere", uses("airlock-nowhere"))))
        assert refused.returncode == 2
        assert (
            "airlock: FAILED_PRECONDITION: installing requirements failed (pip resolution exited with status 1): "
            in refused.stderr
        )
        assert "No matching distribution found for airlock-nowhere" in refused.stderr


async def test_concurrent_registrations_of_one_set_install_it_once(
    client: AirlockClient, gateway_config: GatewayConfig
) -> None:
    streams: dict[str, list[Any]] = {}

    async def register(function_id: str) -> None:
        streams[function_id] = await put_with_progress(client, function_id, uses("airlock-demo"))

    async with anyio.create_task_group() as tg:
        for function_id in ("first", "second", "third"):
            tg.start_soon(register, function_id)
    stages = {fid: [p.stage for p in items[:-1]] for fid, items in streams.items()}
    installing = [fid for fid, seen in stages.items() if Stage.INSTALLING in seen]
    assert len(installing) == 1, stages
    assert sum(seen.count(Stage.REUSED) for seen in stages.values()) == 2
    digests = {items[-1].requirements_digest for items in streams.values()}
    assert len(digests) == 1
    assert sets_on_disk(gateway_config) == sorted(digests)
