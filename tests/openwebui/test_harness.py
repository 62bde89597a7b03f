"""The harness's own guarantees, checked without installing or running Open WebUI.

install.py: a stamped venv is used as it is, an unstamped one is wiped and rebuilt, the stamp
comes last (an interrupted build leaves none). server.py: a server that dies at startup is
reported with its log, and its process group is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.openwebui import install
from tests.openwebui.server import OpenWebUIStartError, running_openwebui


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "airlock-openwebui"


def fake_steps(monkeypatch: pytest.MonkeyPatch, fail_at: str = "") -> list[str]:
    """Replace the install's subprocesses by ones that only make the files a build makes."""
    steps: list[str] = []

    def run(argv: list[str]) -> None:
        steps.append(" ".join(argv[1:]))
        if fail_at and fail_at in argv:
            raise RuntimeError(f"failed at {fail_at}")
        if argv[1:3] == ["-m", "venv"]:
            (Path(argv[3]) / "bin").mkdir(parents=True)
            (Path(argv[3]) / "bin" / "open-webui").touch()
            (Path(argv[3]) / "site").mkdir()
            (Path(argv[3]) / "site" / "requirements-slim.txt").touch()

    monkeypatch.setattr(install, "_run", run)
    monkeypatch.setattr(install, "_site_packages", lambda python: Path(python).parent.parent / "site")
    return steps


def test_a_build_is_stamped_last_and_reused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = fake_steps(monkeypatch)
    venv = install.ensure_openwebui("9.9.9")
    assert venv == cache / "9.9.9" / "venv"
    assert (cache / "9.9.9" / "venv.complete").read_text() == "9.9.9\n"
    assert [step.split()[-1] for step in steps] == [
        str(venv),
        "open-webui==9.9.9",
        f"{venv}/site/requirements-slim.txt",
    ]
    assert "--no-deps" in steps[1]
    steps.clear()
    assert install.ensure_openwebui("9.9.9") == venv
    assert steps == []


def test_an_interrupted_build_leaves_no_stamp_and_is_redone_from_scratch(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_steps(monkeypatch, fail_at="-r")
    with pytest.raises(RuntimeError, match="failed at -r"):
        install.ensure_openwebui("9.9.9")
    venv = cache / "9.9.9" / "venv"
    assert venv.is_dir()
    assert not install.is_installed("9.9.9")
    (venv / "leftover").touch()

    steps = fake_steps(monkeypatch)
    install.ensure_openwebui("9.9.9")
    assert install.is_installed("9.9.9")
    assert not (venv / "leftover").exists()
    assert len(steps) == 3


def test_a_server_dying_at_startup_is_reported_with_its_log(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "open-webui"
    script.write_text('#!/bin/sh\necho "serving from $DATA_DIR in $(pwd), offline=$OFFLINE_MODE"\nexit 3\n')
    script.chmod(0o755)
    data_dir = tmp_path / "data"
    with pytest.raises(OpenWebUIStartError) as raised, running_openwebui(venv, data_dir, ready_timeout=10):
        pytest.fail("the server should not have started")
    message = str(raised.value)
    assert "exited with 3" in message
    assert f"serving from {data_dir} in {data_dir}, offline=true" in message


def test_a_server_never_ready_is_stopped_with_its_group(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "open-webui"
    pid_file = tmp_path / "child.pid"
    # A child of the server in its group: stopping must kill it too, not only the leader.
    script.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {pid_file}\necho waiting\nwait\n")
    script.chmod(0o755)
    with (
        pytest.raises(OpenWebUIStartError, match="not ready after 2 s") as raised,
        running_openwebui(venv, tmp_path / "data", ready_timeout=2),
    ):
        pytest.fail("the server should not have started")
    assert "waiting" in str(raised.value)
    assert not _running(int(pid_file.read_text()))


def _running(pid: int) -> bool:
    """Whether ``pid`` runs: killed children may stay zombies until their new parent reaps them."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
