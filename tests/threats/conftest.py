"""Threat-model suite fixtures: the shared gateway fixtures plus a profile for crowds."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture
def profiles_dir(profiles_dir: Path) -> Path:
    (profiles_dir / "crowd.toml").write_text(CROWD_PROFILE)
    return profiles_dir
