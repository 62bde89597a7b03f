"""Community-style actions that import what Open WebUI's environment has without declaring it,
Open WebUI's own Example Action, and actions whose requirements come from a package index:
each registered and run unchanged on the default runtime (tests/compat/community_expectations.py
says what each must give)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from airlock.client import AirlockClient, Call
from gateway.config import GatewayConfig
from tests import pkgindex
from tests.compat.community_expectations import EXPECTATIONS
from tests.helpers import drain
from tests.pkgindex import PackageIndex

pytestmark = pytest.mark.anyio

PLUGINS = Path(__file__).parent / "plugins"
USER: dict[str, Any] = {"id": "u-7", "email": "lin@example.com", "name": "Lin", "role": "user"}

index_root = pkgindex.index_root
package_index_server = pkgindex.package_index_server


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, package_index_server: PackageIndex) -> GatewayConfig:
    # Declared requirements come from the test's own index, as an operator's would from theirs.
    return gateway_config.model_copy(update={"requirements_index_url": package_index_server.url})


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
async def test_a_community_style_plugin_runs_unchanged(client: AirlockClient, name: str) -> None:
    expected = EXPECTATIONS[name]
    source = (PLUGINS / f"{name}.py").read_text()
    if not expected.registers:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.put_function(name, source)
        details = raised.value.details() or ""
        assert all(part in details for part in expected.error_contains), details
        return
    record = await client.put_function(name, source)
    if expected.requirements:
        assert record.requirements == expected.requirements
        assert record.requirements_installed == expected.installed

    async def answer(call: Call) -> Any:
        return expected.call_answer

    drained = await drain(client, name, body=expected.body, user=USER, on_call=answer)
    assert drained.result.outcome is expected.outcome, drained.result.error
    assert expected.matches(drained.result.value), drained.result.value
    if expected.events is not None:
        assert drained.event_pairs() == list(expected.events)
