"""Threat-model suite fixtures: the shared gateway fixtures, a profile for crowds, both worker modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_profiles

#: Like ``fast`` (tests/conftest.py), with room for 16+ hostile invocations at once on a small
#: host: a long wall clock, so that CPU contention cannot turn a CPU_LIMIT into a TIMEOUT, and
#: more CPU than a memory hog burns in the kernel's reclaim before the OOM killer ends it.
CROWD_PROFILE = """
description = "threat tests: many hostile invocations at once"
wall_seconds = 20
session_seconds = 30
cpu_seconds = 2
memory_mib = 128
stdio_bytes = 65536
output_keep_bytes = 1024
output_bytes = 262144
frame_bytes = 65536
max_events = 200
max_concurrent = 32
start_timeout_seconds = 30
"""


@pytest.fixture(scope="module", params=["warm", "fresh"])
def sandbox_mode(request: pytest.FixtureRequest) -> str:
    """Every threat runs against forked (zygote) and spawned workers alike.

    Module-scoped: each module's tests share one gateway per mode (tests/conftest.py).
    """
    mode: str = request.param
    return mode


@pytest.fixture(scope="module")
def profiles_dir(tmp_path_factory: pytest.TempPathFactory, sandbox_mode: str) -> Path:
    # A directory per mode (its gateway's data directory beside it): the fresh-mode gateway
    # must not open the registry the warm one left.
    profiles_dir = write_profiles(tmp_path_factory.mktemp(f"gateway-{sandbox_mode}") / "profiles")
    (profiles_dir / "crowd.toml").write_text(CROWD_PROFILE)
    for path in profiles_dir.glob("*.toml"):
        kept = [line for line in path.read_text().splitlines() if not line.startswith("mode ")]
        path.write_text("\n".join([f'mode = "{sandbox_mode}"', *kept]) + "\n")
    return profiles_dir
