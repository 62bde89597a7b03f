"""Guest fixtures: the shared gateway fixtures with limits sized for an emulated machine.

Under QEMU's TCG everything runs about 20 times slower than on the host: an interpreter
starts in 2-3 s, a zygote imports the runtime's preloads in tens of seconds. Start and
inspection timeouts are raised accordingly, and so is CPU time where no limit is under test
(importing ``requests`` alone costs seconds of emulated CPU). The ``limits`` profile keeps
small real limits (memory, CPU time, pids, output): CPU time is counted by the guest kernel,
so a spin still takes one CPU second to hit one second.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import command_environment, write_profiles

#: Lines every guest profile gets, replacing the shipped values (see the module docstring).
SLOW_MACHINE = {
    "start_timeout_seconds": "300",
    "inspect_timeout_seconds": "300",
    "wall_seconds": "120",
    "session_seconds": "900",
    "warm_pool_size": "1",
    "cpu_seconds": "120",
}

#: Small limits, each reached quickly by the probe plugins (tests/threats/plugins/exhaust.py).
LIMITS_PROFILE = """
description = "vm checks: small limits"
memory_mib = 64
cpu_seconds = 1
pids = 16
stdio_bytes = 65536
output_keep_bytes = 1024
output_bytes = 262144
frame_bytes = 65536
max_events = 200
"""


def guest_profiles(directory: Path, mode: str = "warm") -> Path:
    """The shipped profiles, ``fast``, ``single`` and ``limits``, in ``mode``, sized for the VM."""
    write_profiles(directory)
    (directory / "limits.toml").write_text(LIMITS_PROFILE)
    overrides = {**SLOW_MACHINE, "mode": f'"{mode}"'}
    for path in directory.glob("*.toml"):
        text = path.read_text()
        # A limit the file sets itself is under test (limits.toml's cpu_seconds): kept.
        mine = (
            {"cpu_seconds"} & {line.split("=")[0].strip() for line in text.splitlines()}
            if path.stem == "limits"
            else set()
        )
        replaced = {key: value for key, value in overrides.items() if key not in mine}
        kept = [line for line in text.splitlines() if line.split("=")[0].strip() not in replaced]
        path.write_text("\n".join([*(f"{key} = {value}" for key, value in replaced.items()), *kept]) + "\n")
    return directory


@pytest.fixture(scope="module", params=["warm", "fresh"])
def sandbox_mode(request: pytest.FixtureRequest) -> str:
    """Forked (zygote) and spawned workers alike."""
    mode: str = request.param
    return mode


@pytest.fixture(scope="module")
def profiles_dir(tmp_path_factory: pytest.TempPathFactory, sandbox_mode: str) -> Path:
    return guest_profiles(tmp_path_factory.mktemp(f"gateway-{sandbox_mode}") / "profiles", sandbox_mode)


#: The repository's ``airlock`` command (its .venv's).
AIRLOCK = str(Path(sys.executable).parent / "airlock")
LISTENING = "airlock listening on "


@dataclass
class Served:
    """A running ``airlock serve``: its process, its address, its log (stderr)."""

    process: subprocess.Popen[str]
    target: str
    log: Path


@contextlib.contextmanager
def serving(
    tmp_path: Path, *, prefix: tuple[str, ...] = (), profiles: Path | None = None, **env: str
) -> Iterator[Served]:
    """``airlock serve`` on a port of its own, started behind ``prefix`` (placement, setpriv).

    ``profiles``: the guest profiles in warm mode (below ``tmp_path``) unless given.
    """
    log = tmp_path / "serve.log"
    profiles = profiles or guest_profiles(tmp_path / "profiles")
    argv = [*prefix, AIRLOCK, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]
    argv += ["--data-dir", str(tmp_path / "data"), "--profiles", str(profiles)]
    with log.open("w") as log_file:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=log_file, text=True, env=command_environment(**env)
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(LISTENING), f"no listening line ({line!r}):\n{log.read_text()}"
        yield Served(process, line.removeprefix(LISTENING).strip(), log)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(300)  # a drain under emulation, on a loaded machine
        assert process.stdout is not None
        process.stdout.close()  # not left to the collector (a ResourceWarning, an error here)


#: Set by tests/vm/test_guest.py in the guest's environment (not AIRLOCK_*: no setting).
GUEST_MARK = "TESTS_VM_GUEST"


def own_cgroup() -> Path:
    """This process's cgroup directory (cgroup v2: one line, ``0::<path>``)."""
    line = Path("/proc/self/cgroup").read_text().strip()
    assert line.startswith("0::"), f"not a cgroup-v2-only kernel: {line}"
    return Path("/sys/fs/cgroup") / line[3:].lstrip("/")


@pytest.fixture(autouse=True)
def _only_in_the_vm() -> None:
    """These checks take the cgroup they run in and kill processes: never on a host by mistake."""
    if os.environ.get(GUEST_MARK) != "1":
        pytest.fail("tests/vm/guest runs inside the VM only (tests/vm/test_guest.py starts it)")
