"""A plugin cannot change the requirement set it shares with other functions, nor see another's.

The set is bound read-only at /airlock/site: creating, removing or re-moding anything there
fails with EROFS (the mount refuses before any permission check); opening an existing file
for writing fails with EACCES under a root gateway (the files belong to the installer's
uid, another than the sandbox's) and EROFS under an unprivileged one (same uid: the mount
refuses). Another function's set is simply not in the sandbox, at /airlock/site or at
its host path.
"""

from __future__ import annotations

import os

import orjson
import pytest

from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from tests.helpers import drain
from tests.wheels import demo_wheelhouse

pytestmark = pytest.mark.anyio

TAMPER = '''"""
requirements: airlock-demo
"""
import errno, os

def _errno(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "allowed"

class Action:
    async def action(self, body):
        site = "/airlock/site"
        module = site + "/airlock_demo/__init__.py"
        return {
            "create": _errno(lambda: open(site + "/planted.py", "w")),
            "mkdir": _errno(lambda: os.mkdir(site + "/airlock_demo/evil")),
            "unlink": _errno(lambda: os.unlink(module)),
            "rename": _errno(lambda: os.rename(module, module + ".bak")),
            "chmod": _errno(lambda: os.chmod(module, 0o777)),
            "overwrite": _errno(lambda: open(module, "r+")),
            "unchanged": open(module).read(),
        }
'''

LOOK = '''"""
requirements: {requirements}
"""
import os

class Action:
    async def action(self, body):
        site = "/airlock/site"
        return {{
            "site": sorted(os.listdir(site)) if os.path.isdir(site) else None,
            "host_path_exists": os.path.exists(body["host_path"]),
            "root": sorted(os.listdir("/")),
        }}
'''


@pytest.fixture(scope="module")
def gateway_config(gateway_config: GatewayConfig, tmp_path_factory: pytest.TempPathFactory) -> GatewayConfig:
    wheelhouse = demo_wheelhouse(tmp_path_factory.mktemp("tamper") / "wheelhouse")
    return gateway_config.model_copy(update={"requirements_install": True, "requirements_wheelhouse": wheelhouse})


async def test_cant_write_to_its_requirement_set(client: AirlockClient) -> None:
    await client.put_function("tamper", TAMPER)
    drained = await drain(client, "tamper")
    assert drained.result.outcome is Outcome.OK, drained.result
    # A root gateway gives the installer and each sandbox different uids (DAC refuses the
    # open first); an unprivileged one runs them all as its own uid (the mount refuses).
    overwrite = "EACCES" if os.geteuid() == 0 else "EROFS"
    assert orjson.loads(drained.result.value_json) == {
        "create": "EROFS",
        "mkdir": "EROFS",
        "unlink": "EROFS",
        "rename": "EROFS",
        "chmod": "EROFS",
        "overwrite": overwrite,
        "unchanged": "VALUE = 42\n",
    }


async def test_cant_see_another_functions_requirement_set(client: AirlockClient, gateway_config: GatewayConfig) -> None:
    demo = await client.put_function("demo", LOOK.format(requirements="airlock-demo"))
    other = await client.put_function("other", LOOK.format(requirements="airlock-other"))
    plain = await client.put_function("plain", LOOK.replace("requirements: {requirements}\n", "").format())
    assert (demo.requirements_state, other.requirements_state, plain.requirements_state) == ("ready", "ready", "")
    demo_path = str(gateway_config.data_dir / "requirements" / demo.requirements_digest)
    seen = {}
    for function_id in ("other", "plain"):
        drained = await drain(client, function_id, body={"host_path": demo_path})
        assert drained.result.outcome is Outcome.OK, drained.result
        seen[function_id] = orjson.loads(drained.result.value_json)
    # Its own set only: airlock-other's files, nothing of airlock-demo's.
    assert seen["other"]["site"] == ["__pycache__", "airlock_other-2.5.dist-info", "airlock_other.py"]
    assert seen["other"]["host_path_exists"] is False
    # No set at all: no /airlock in the root, and the host path of demo's set is not there.
    assert seen["plain"]["site"] is None
    assert "airlock" not in seen["plain"]["root"]
    assert seen["plain"]["host_path_exists"] is False
