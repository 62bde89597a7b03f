"""Plugin runtimes: what a sandbox imports, built by the confined installer, shared, refused clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from airlock.client import AirlockClient, Outcome
from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.profiles import Profile
from gateway.profiles.loader import RUNTIMES_SUBDIR, shipped_profiles_dir
from gateway.profiles.runtimes import DEFAULT_RUNTIME, RUNNER_NEEDS, load_runtimes, parse_lock
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.runtimes import Runtimes
from gateway.requirements.wheelcache import WheelCache
from gateway.server import Gateway
from tests.conftest import TEST_RUNTIMES, command_environment, default_runtime_dir, probed, running_gateway
from tests.helpers import drain
from tests.pkgindex import unreachable_url

pytestmark = pytest.mark.anyio

AIRLOCK = str(Path(sys.executable).parent / "airlock")
DEFAULT_LOCK = load_runtimes(shipped_profiles_dir() / RUNTIMES_SUBDIR)[DEFAULT_RUNTIME]
#: The runner's needs and theirs, exactly as the default runtime pins them (so their wheels
#: are in the tests' cache): a runtime that builds in seconds without a network.
SMALL = ("annotated-types", "orjson", "pydantic", "pydantic-core", "typing-extensions", "typing-inspection")
ZERO = "0" * 64

WHAT_IT_SEES = '''"""
title: What the sandbox imports
"""
import sys


class Action:
    async def action(self, body):
        found = {}
        for name in ("gateway", "airlock", "grpc", "pydantic", "pandas"):
            try:
                module = __import__(name)
            except ImportError as exc:
                found[name] = f"{type(exc).__name__}: {exc}"
            else:
                found[name] = getattr(module, "__version__", getattr(module, "VERSION", "?"))
        return {"found": found, "path": sys.path}
'''


def small_lock(*extra: str) -> str:
    """A lock of SMALL's lines from the default runtime, plus ``extra`` lines."""
    lines = [line for line in DEFAULT_LOCK.lines if line.split("==")[0] in SMALL]
    return "".join(f"{line}\n" for line in [*lines, *extra])


def pinned(name: str) -> str:
    return DEFAULT_LOCK.pins[name].split("==")[1]


async def test_a_sandbox_imports_its_runtime_and_nothing_of_the_gateways(client: AirlockClient) -> None:
    await client.put_function("sees", WHAT_IT_SEES)
    drained = await drain(client, "sees")
    assert drained.result.outcome is Outcome.OK
    found = drained.result.value["found"]
    assert found["gateway"] == "ModuleNotFoundError: No module named 'gateway'"
    assert found["airlock"] == "ModuleNotFoundError: No module named 'airlock'"
    # Open WebUI's versions, not the gateway's (whatever those are).
    assert found["pydantic"] == pinned("pydantic")
    assert found["grpc"] == pinned("grpcio")
    assert found["pandas"] == pinned("pandas")
    assert str(default_runtime_dir()) in drained.result.value["path"]


async def test_a_runtime_is_read_only_in_the_sandbox(client: AirlockClient) -> None:
    source = f'''"""
title: Writes its runtime
"""
import errno, os


class Action:
    async def action(self, body):
        results = {{}}
        for what, path in (("new", "{default_runtime_dir()}/evil.py"), ("existing", __import__("pydantic").__file__)):
            try:
                with open(path, "a"):
                    pass
                results[what] = "written"
            except OSError as exc:
                results[what] = errno.errorcode[exc.errno]
        return results
'''
    await client.put_function("writes_runtime", source)
    drained = await drain(client, "writes_runtime")
    # Creating is EROFS (a read-only mount); opening an existing file for writing is refused
    # first by its mode under a root gateway, where the builder's uid and the sandbox's differ
    # (the same as for requirement sets, docs/REQUIREMENTS.md).
    assert drained.result.value == {"new": "EROFS", "existing": "EACCES" if os.geteuid() == 0 else "EROFS"}
    assert not (default_runtime_dir() / "evil.py").exists()


def add_runtime(profiles: Path, name: str, lock: str, *, profile: str | None = None) -> None:
    (profiles / RUNTIMES_SUBDIR).mkdir(exist_ok=True)
    (profiles / RUNTIMES_SUBDIR / f"{name}.txt").write_text(lock)
    (profiles / f"{profile or name}.toml").write_text(f'description = "tests: on {name}"\nruntime = "{name}"\n')


async def test_a_runtime_that_fails_to_build_refuses_its_profiles_and_the_others_serve(
    private_config: GatewayConfig,
) -> None:
    add_runtime(private_config.profiles_dir, "broken", small_lock(f"airlock-no-such-package==1.0 --hash=sha256:{ZERO}"))
    config = private_config.model_copy(update={"requirements_index_url": unreachable_url()})
    async with running_gateway(config, probed()) as gateway, AirlockClient(gateway.address) as client:
        (reason,) = gateway.profiles.refused["broken"]
        assert reason.startswith("its runtime 'broken' failed to build: installing runtime 'broken' failed")
        assert "airlock-no-such-package" in reason
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.put_function("on_broken", WHAT_IT_SEES, profile="broken")
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "profile 'broken' cannot run on this host: its runtime 'broken' failed to build" in (
            info.value.details() or ""
        )
        await client.put_function("on_default", WHAT_IT_SEES)
        assert (await drain(client, "on_default")).result.outcome is Outcome.OK


async def test_a_wheel_that_does_not_match_the_locks_hash_fails_the_build(private_config: GatewayConfig) -> None:
    # The real package, a wrong hash: pip downloads it from the configured index and refuses it.
    lines = [line for line in small_lock().splitlines() if not line.startswith("typing-extensions")]
    lock = "\n".join([*lines, f"typing-extensions=={pinned('typing-extensions')} --hash=sha256:{ZERO}"]) + "\n"
    add_runtime(private_config.profiles_dir, "tampered", lock)
    async with running_gateway(private_config, probed()) as gateway:
        (reason,) = gateway.profiles.refused["tampered"]
    assert "DO NOT MATCH THE HASHES" in reason


async def test_the_default_profiles_runtime_failing_stops_the_start(private_config: GatewayConfig) -> None:
    add_runtime(
        private_config.profiles_dir,
        "broken",
        small_lock(f"airlock-no-such-package==1.0 --hash=sha256:{ZERO}"),
        profile="default",
    )
    config = private_config.model_copy(update={"requirements_index_url": unreachable_url()})
    gateway = Gateway(config, host=probed())
    with pytest.raises(AirlockError, match="the default profile cannot run: its runtime 'broken' failed to build"):
        await gateway.start()
    await gateway.stop()


async def test_a_built_runtime_is_shared_and_not_built_again(private_config: GatewayConfig) -> None:
    add_runtime(private_config.profiles_dir, "small", small_lock())
    spec = parse_lock("small", Path("small.txt"), small_lock())
    assert set(RUNNER_NEEDS) <= set(spec.pins)
    async with running_gateway(private_config, probed()) as gateway:
        assert gateway.runtimes.ready(spec)
        built = gateway.runtimes.path(spec).stat().st_mtime_ns
        assert "small" in gateway.profiles
    # A second gateway on the same runtimes directory (another data directory) finds it built.
    other = private_config.model_copy(update={"data_dir": private_config.data_dir.parent / "other"})
    async with running_gateway(other, probed()) as gateway:
        assert gateway.runtimes.path(spec).stat().st_mtime_ns == built
        async with AirlockClient(gateway.address) as client:
            await client.put_function("small", WHAT_IT_SEES, profile="small")
            found = (await drain(client, "small")).result.value["found"]
    assert found["pydantic"] == pinned("pydantic")
    assert found["pandas"] == "ModuleNotFoundError: No module named 'pandas'"  # not in that runtime


def test_airlock_runtimes_build_builds_ahead_of_time_and_says_which_failed(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "default.toml").write_text('runtime = "small"\n')
    add_runtime(profiles, "small", small_lock())
    add_runtime(profiles, "broken", small_lock(f"airlock-no-such-package==1.0 --hash=sha256:{ZERO}"))
    argv = [AIRLOCK, "runtimes", "build", "--profiles", str(profiles), "--data-dir", str(tmp_path / "data")]
    argv += ["--requirements-index-url", unreachable_url()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=command_environment())
    assert done.returncode == 1, done.stderr
    spec = parse_lock("small", Path("small.txt"), small_lock())
    assert done.stdout.splitlines() == [f"runtime small: {TEST_RUNTIMES / spec.digest}"]
    assert "runtime broken: FAILED: installing runtime 'broken' failed" in done.stderr


async def test_builds_stage_where_no_other_user_can_reach_and_leftovers_go(private_config: GatewayConfig) -> None:
    add_runtime(private_config.profiles_dir, "small", small_lock())
    spec = parse_lock("small", Path("small.txt"), small_lock())
    runtimes = TEST_RUNTIMES
    private = runtimes / ".staging"
    private.mkdir(exist_ok=True)
    leftover = private / f".tmp-{spec.digest}-crashed"
    leftover.mkdir()
    (leftover / "half.py").write_text("")
    async with running_gateway(private_config, probed()):
        assert not leftover.exists()  # a crashed build's, its digest unlocked
        assert (private.stat().st_mode & 0o777) == 0o700


def test_another_users_staging_is_left_to_them(private_config: GatewayConfig, tmp_path: Path) -> None:
    """A runtimes directory shared with gateways of another user (an unprivileged gateway
    reading what root's built): their build leftovers are not this gateway's to collect, and
    their private directory is no reason not to start."""
    private = tmp_path / "runtimes" / ".staging"
    private.mkdir(parents=True)
    theirs = private / ".tmp-0123-building"
    theirs.mkdir()
    os.chown(private, 4242, 4242)
    policy = InstallPolicy.from_config(private_config)
    runtimes = Runtimes(tmp_path / "runtimes", policy, None, Profile(name="default"), WheelCache(tmp_path / "wheels"))
    assert runtimes.collect_staging() == []
    assert theirs.is_dir()
    assert private.stat().st_mode & 0o777 == 0o755


def test_an_image_build_makes_the_same_runtime_without_a_sandbox(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "default.toml").write_text('runtime = "small"\n')
    add_runtime(profiles, "small", small_lock())
    runtimes = tmp_path / "runtimes"
    argv = [AIRLOCK, "runtimes", "build", "--unconfined", "--profiles", str(profiles), "--runtimes-dir", str(runtimes)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=command_environment())
    assert done.returncode == 0, done.stderr
    spec = parse_lock("small", Path("small.txt"), small_lock())
    built = runtimes / spec.digest  # the address a confined build gives it
    assert done.stdout.splitlines()[-1] == f"runtime small: {built}"
    assert (built / "pydantic" / "__init__.py").is_file()
    assert (built.stat().st_mode & 0o777) == 0o755
    # Nothing a gateway would touch at start on the image's read-only root (collect_staging).
    assert sorted(p.name for p in runtimes.iterdir()) == sorted([spec.digest, f"{spec.digest}.json"])
