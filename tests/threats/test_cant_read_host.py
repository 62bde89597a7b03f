"""Host files and secrets: the sandbox's root is a read-only tmpfs holding only the runtime.

What the plugin sees is asserted exactly: the root's listing, /dev, /etc, the environment,
and the errno of every attempt to read or write something of the host's. Mounts hide the
host (the paths do not exist: ENOENT); Landlock refuses writes to what is visible (EACCES);
the read-only remounts refuse creating anything outside /tmp (EROFS).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airlock.client import AirlockClient
from gateway.sandbox.confinement import SYSTEM_PATHS
from gateway.server import Gateway
from runner import boot
from tests.conftest import sandbox_binds
from tests.threats.probe import attack, needs_landlock

pytestmark = [pytest.mark.anyio]

RUNNER_MAIN = str(Path(boot.__file__).resolve().parent / "main.py")
#: The first component of every runtime bind (the Python installation, the runner, the system
#: libraries), plus the sandbox's own /dev, /proc and /tmp: the whole of the sandbox's root.
EXPECTED_ROOT = sorted(
    {Path(p).parts[1] for p in [*sandbox_binds(), *SYSTEM_PATHS] if os.path.lexists(p)} | {"dev", "proc", "tmp"}
)
HOST_ETC = ["/etc/shadow", "/etc/passwd", "/etc/hosts", "/etc/hostname"]


def exists_on_host(path: str) -> bool:
    return Path(path).exists()


@pytest.mark.parametrize("path", HOST_ETC)
async def test_cant_read_the_hosts_etc(client: AirlockClient, path: str) -> None:
    assert exists_on_host(path), "the host has the file, so its absence in the sandbox means something"
    attacked = await attack(client, "hostfs", "read", path=path)
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_see_more_than_the_runtime_at_the_root(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "listdir", path="/")
    assert attacked.value == EXPECTED_ROOT
    assert not {"home", "var", "run", "sys", "boot", "mnt", "srv", "opt"} & set(attacked.value)


async def test_cant_see_more_of_etc_than_the_loader_cache(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "listdir", path="/etc")
    assert attacked.value == ["ld.so.cache"]


async def test_cant_see_host_devices(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "listdir", path="/dev")
    assert attacked.value == ["fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"]


async def test_cant_see_sys(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "stat", path="/sys")
    assert attacked.value == "ENOENT"


@pytest.mark.parametrize("path", ["/proc/cmdline", "/proc/sys/kernel/random/boot_id"])
async def test_cant_read_the_hosts_kernel_globals(client: AirlockClient, path: str) -> None:
    # A full procfs shows the host kernel's command line (which may carry the host's boot
    # configuration and tokens) and its boot id; proc mounted with subset=pid has neither.
    attacked = await attack(client, "hostfs", "read", path=path)
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_read_a_planted_sentinel(client: AirlockClient, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("the host's secret")
    attacked = await attack(client, "hostfs", "read", path=str(sentinel))
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_read_a_sentinel_in_the_gateways_data_dir(client: AirlockClient, gateway: Gateway) -> None:
    sentinel = gateway.config.data_dir / "key.pem"
    sentinel.write_text("-----BEGIN PRIVATE KEY-----")
    attacked = await attack(client, "hostfs", "read", path=str(sentinel))
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_read_the_registry_database(client: AirlockClient, gateway: Gateway) -> None:
    database = gateway.config.data_dir / "registry.sqlite3"
    assert database.exists()
    attacked = await attack(client, "hostfs", "read", path=str(database))
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_list_the_gateways_profiles(client: AirlockClient, gateway: Gateway) -> None:
    attacked = await attack(client, "hostfs", "listdir", path=str(gateway.config.profiles_dir))
    assert attacked.value == "ENOENT"


async def test_cant_read_the_environ_of_its_own_pid_1(client: AirlockClient) -> None:
    # PID 1 (the reaper) keeps capabilities in the sandbox's user namespace; the plugin has none.
    attacked = await attack(client, "hostfs", "read", path="/proc/1/environ")
    assert attacked.value == {"errno": "EACCES"}


async def test_cant_read_the_gateways_environ(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "read", path=f"/proc/{os.getpid()}/environ")
    assert attacked.value == {"errno": "ENOENT"}


async def test_cant_inherit_an_environment(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "environment")
    assert attacked.value == {"os.environ": {}, "/proc/self/environ": ""}


async def test_cant_see_the_hosts_name(client: AirlockClient) -> None:
    attacked = await attack(client, "network", "hostname")
    assert attacked.value == "airlock"


async def test_cant_see_the_hosts_cgroup_paths(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "read", path="/proc/self/cgroup")
    lines = attacked.value["content"].splitlines()
    assert lines
    assert all(line.endswith(":/") for line in lines), lines


@pytest.mark.parametrize(
    ("verb", "path", "errno_name"),
    [
        ("create", "/x", "EROFS"),
        ("create", "/etc/x", "EROFS"),
        ("create", "/usr/lib/x", "EROFS"),
        ("create", "/dev/x", "EROFS"),
        ("mkdir", "/x", "EROFS"),
        pytest.param("append", "/etc/ld.so.cache", "EACCES", marks=needs_landlock(1, "refusing writes")),
        pytest.param("append", RUNNER_MAIN, "EACCES", marks=needs_landlock(1, "refusing writes")),
        ("create", "/proc/sys/kernel/core_pattern", "ENOENT"),  # /proc shows processes only
        ("append", "/proc/self/oom_score_adj", "EROFS"),  # /proc is mounted read-only
        ("append", "/proc/sysrq-trigger", "ENOENT"),
    ],
)
async def test_cant_write_outside_tmp(client: AirlockClient, verb: str, path: str, errno_name: str) -> None:
    attacked = await attack(client, "hostfs", verb, path=path)
    assert attacked.value == errno_name


async def test_cant_see_a_mount_that_is_writable_or_allows_setuid(client: AirlockClient) -> None:
    attacked = await attack(client, "hostfs", "mounts")
    mounts: list[tuple[str, list[str]]] = [(point, options) for point, options in attacked.value]
    assert all("nosuid" in options for _, options in mounts), mounts
    assert sorted(point for point, options in mounts if "rw" in options) == ["/tmp"]
