"""The sandbox uid settings: what is refused before a gateway starts, and what the host must map."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.uids import MAX_UID, UidRange, UidsUnavailable, check_mappable, claim_slice


@pytest.fixture(autouse=True)
def _no_airlock_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("AIRLOCK_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"sandbox_uid_first": 0},
            "sandbox_uid_first (AIRLOCK_SANDBOX_UID_FIRST): Input should be greater than or equal to 1",
        ),
        (
            {"sandbox_uid_first": MAX_UID, "sandbox_uid_count": 2},
            f"sandbox_uid_first + sandbox_uid_count goes past the largest uid, {MAX_UID} (ends at {MAX_UID + 1})",
        ),
        (
            {"sandbox_uid_count": 100, "sandbox_uids_per_gateway": 101},
            "sandbox_uids_per_gateway is larger than sandbox_uid_count: no slice fits the range",
        ),
        ({"sandbox_uid_lock_dir": "run/uids"}, "sandbox_uid_lock_dir run/uids is not an absolute path"),
    ],
)
def test_unusable_uid_ranges_are_refused(settings: dict[str, object], error: str) -> None:
    with pytest.raises(AirlockError, match=re.escape(error)):
        GatewayConfig.load(None, **settings)


def test_the_uid_range_comes_from_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_SANDBOX_UID_FIRST", "100000")
    monkeypatch.setenv("AIRLOCK_SANDBOX_UID_COUNT", "2048")
    monkeypatch.setenv("AIRLOCK_SANDBOX_UIDS_PER_GATEWAY", "512")
    monkeypatch.setenv("AIRLOCK_SANDBOX_UID_LOCK_DIR", "/var/lib/airlock-uids")
    config = GatewayConfig.load()
    assert (config.sandbox_uid_first, config.sandbox_uid_count, config.sandbox_uids_per_gateway) == (100_000, 2048, 512)
    assert config.sandbox_uid_lock_dir == Path("/var/lib/airlock-uids")


def test_serve_help_shows_the_uid_range_defaults() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=400)
    text = " ".join(result.output.split())
    assert "[default: 200000; env: AIRLOCK_SANDBOX_UID_FIRST]" in text
    assert "[default: 1024; env: AIRLOCK_SANDBOX_UIDS_PER_GATEWAY]" in text


def test_a_range_holding_the_gateways_own_uid_is_refused() -> None:
    with pytest.raises(UidsUnavailable, match="holds the gateway's own id 0"):
        check_mappable(UidRange(0, 10))


CHECK = """
import sys
from gateway.uids import UidRange, UidsUnavailable, check_mappable
try:
    check_mappable(UidRange(200000, 10))
except UidsUnavailable as exc:
    print(exc)
"""


def test_a_range_outside_the_gateways_user_namespace_is_refused() -> None:
    # A user-namespaced container seen from inside: only the ids of its namespace exist.
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux's unshare is needed"
    done = subprocess.run(
        [unshare, "--user", "--map-root-user", sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == (
        "the sandbox uid range 200000-200009 is not within the uids this gateway's user namespace maps (0-0); "
        "set sandbox_uid_first and sandbox_uid_count inside them"
    )


@pytest.mark.parametrize(("mode", "refused"), [(0o777, True), (0o1777, False), (0o755, False)])
def test_a_lock_dir_below_a_directory_others_may_rename_in_is_refused(tmp_path: Path, mode: int, refused: bool) -> None:
    # Another user able to rename the lock directory's parent could swap the directory for
    # one of their own after the gateway checked it; sticky (like /tmp) prevents that.
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(mode)
    lock_dir = parent / "uids"
    if refused:
        with pytest.raises(UidsUnavailable, match=re.escape(f"lies in {parent}, which another user owns or may")):
            claim_slice(lock_dir, UidRange(200_000, 2048), 1024)
    else:
        claim_slice(lock_dir, UidRange(200_000, 2048), 1024).release()
