"""Real-world-style plugins on cgroup v2: one with requirements from a package index, one
that calls an HTTP server through the egress relay (warm and fresh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from tests import pkgindex
from tests.hello_server import free_port, hello_server
from tests.helpers import drain, register
from tests.integration.test_index_requirements import uses
from tests.pkgindex import PackageIndex
from tests.vm.guest.conftest import SLOW_MACHINE

pytestmark = pytest.mark.anyio

index_root = pkgindex.index_root
package_index_server = pkgindex.package_index_server


@pytest.fixture(scope="module")
def host_server() -> Iterator[int]:
    with hello_server() as port:
        yield port


@pytest.fixture(scope="module")
def profiles_dir(profiles_dir: Path, host_server: int, sandbox_mode: str) -> Path:
    sized = "".join(f"{key} = {value}\n" for key, value in SLOW_MACHINE.items())
    (profiles_dir / "egress.toml").write_text(
        f'{sized}mode = "{sandbox_mode}"\nnetwork = "egress"\negress_allow = ["127.0.0.1:{host_server}"]\n'
    )
    return profiles_dir


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, package_index_server: PackageIndex) -> GatewayConfig:
    return gateway_config.model_copy(
        update={
            "requirements_index_url": package_index_server.url,
            "requirements_timeout_seconds": 600.0,
            "wheel_cache_dir": gateway_config.data_dir.parent / "wheels",
        }
    )


async def test_requirements_from_an_index(client: AirlockClient, package_index_server: PackageIndex) -> None:
    record = await client.put_function("demo", uses("airlock-demo-index", "airlock_demo_index", "ORIGIN"))
    assert record.requirements_state == "ready", record
    assert sorted(record.requirements_installed) == ["airlock-demo-index==1.0", "airlock-index-leaf==0.2"]
    assert package_index_server.downloads(), "nothing was downloaded from the index"
    drained = await drain(client, "demo")
    assert drained.result.outcome is Outcome.OK, drained.result
    assert drained.result.value["file"].startswith("/airlock/site/")


async def test_egress_to_an_allowed_server(client: AirlockClient, host_server: int) -> None:
    fid = await register(client, "egress_client", "egress_client", profile="egress")
    for library in ("socket", "requests"):
        body: dict[str, object] = {"client": library, "library": library}
        body["url"] = f"http://127.0.0.1:{host_server}/{library}"
        body |= {"host": "127.0.0.1", "port": host_server, "path": f"/{library}"}
        drained = await drain(client, fid, body=body)
        assert drained.result.value == {"status": 200, "body": f"hello /{library}"}, drained.result


async def test_egress_to_another_port_is_refused(client: AirlockClient) -> None:
    """Landlock ABI 2 has no TCP rules: the sandbox's own network namespace refuses instead
    (docs/SECURITY.md, "Hosts without a layer"), with ECONNREFUSED rather than EACCES."""
    fid = await register(client, "egress_client", "egress_client", profile="egress")
    port = free_port()
    body: dict[str, object] = {"client": "socket", "host": "127.0.0.1", "port": port, "path": "/"}
    drained = await drain(client, fid, body=body)
    assert (drained.result.outcome, drained.result.error_type) == (Outcome.FUNCTION_ERROR, "ConnectionRefusedError")
