"""A kernel without Landlock (booted with lsm=lockdown,yama,apparmor): what docs/SECURITY.md says.

Profiles that require Landlock (every shipped one) are refused, by doctor and by serve
alike, with the reason; a profile that marks it ``best-effort`` runs, without it, and the
start-up log says so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airlock.client import AirlockClient
from runner.confine.syscalls import landlock_abi
from tests.conftest import command_environment, config_for, running_gateway
from tests.threats.probe import attack
from tests.vm.guest.conftest import guest_profiles

pytestmark = pytest.mark.anyio

AIRLOCK = str(Path(sys.executable).parent / "airlock")


def test_the_kernel_has_no_landlock() -> None:
    assert landlock_abi() == 0


def test_doctor_and_serve_refuse_the_profiles_that_require_it(tmp_path: Path) -> None:
    profiles = str(guest_profiles(tmp_path / "profiles"))
    env = command_environment(AIRLOCK_DATA_DIR=str(tmp_path / "data"), AIRLOCK_LISTEN="127.0.0.1:0")
    doctor, serve = (
        subprocess.run([AIRLOCK, *command], capture_output=True, text=True, timeout=300, env=env, check=False)
        for command in (["doctor", "--profiles", profiles], ["serve", "--profiles", profiles])
    )
    assert doctor.returncode == 1
    lines = doctor.stdout.splitlines()
    assert "landlock:        missing" in lines
    assert any(line.startswith("degraded:        no Landlock: profiles with landlock") for line in lines)
    assert "  default: REFUSED: Landlock is required by the profile and the kernel has none" in lines
    assert serve.returncode != 0
    assert (
        "the default profile cannot run on this host: Landlock is required by the profile and the kernel has none"
    ) in serve.stderr


async def test_a_best_effort_profile_runs_without_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = guest_profiles(tmp_path / "profiles")
    for path in profiles.glob("*.toml"):
        path.write_text(path.read_text().replace('landlock = "required"', 'landlock = "best-effort"'))
        if "landlock =" not in path.read_text():
            path.write_text('landlock = "best-effort"\n' + path.read_text())
    async with running_gateway(config_for(tmp_path, profiles)) as gateway, AirlockClient(gateway.address) as client:
        assert (await attack(client, "exhaust", "benign", profile="limits")).value == "fine"
    assert "layer_degraded" in capsys.readouterr().out
