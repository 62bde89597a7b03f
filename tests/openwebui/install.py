"""A cached virtual environment holding a real Open WebUI, for the tests that run one.

Open WebUI is installed the slim way: the wheel without its dependencies, then the
``requirements-slim.txt`` the wheel ships (installed at the top of site-packages). That is
about 800 MB and two minutes once, so the venv lives outside the repository, under
``$XDG_CACHE_HOME/airlock-openwebui/<version>/venv`` (``~/.cache`` by default), and is
shared by every checkout and every pytest process of the machine.

Two pytest processes may ask for it at once, and an install may be interrupted (Ctrl-C, a
timeout): a lock file beside the venv serialises installs, and a stamp file, written only
after everything installed, marks a venv as complete. A venv without its stamp is wiped and
built again, in place, because a venv is not relocatable (its scripts name its own path).

Packages come from whatever index pip is configured with (``pip.conf``, ``PIP_*``
variables), never one named here, so that a mirror or an offline wheelhouse works unchanged.

``python -m tests.openwebui.install [VERSION]`` builds it ahead of time (CI, admins).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The Open WebUI release the bridge is written and tested against.
DEFAULT_VERSION = "0.12.4"

#: Written last, holding the version: its presence is what makes a venv complete.
STAMP_NAME = "venv.complete"
LOCK_NAME = "install.lock"


def cache_root() -> Path:
    """The directory holding one subdirectory per Open WebUI version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airlock-openwebui"


def venv_dir(version: str = DEFAULT_VERSION) -> Path:
    """Where the venv of ``version`` lives (whether or not it is built yet)."""
    return cache_root() / version / "venv"


def is_installed(version: str = DEFAULT_VERSION) -> bool:
    """Whether the venv of ``version`` is complete (its stamp written)."""
    stamp = venv_dir(version).parent / STAMP_NAME
    return stamp.is_file() and stamp.read_text().strip() == version


def ensure_openwebui(version: str = DEFAULT_VERSION) -> Path:
    """The venv directory of Open WebUI ``version``, built first if it is not complete.

    Returns at once when the stamp is there; otherwise waits for the lock (another process
    may be building it), looks again, and builds.
    """
    venv = venv_dir(version)
    if is_installed(version):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _locked(venv.parent / LOCK_NAME):
        # Another process may have finished the build while this one waited for the lock.
        if not is_installed(version):
            _build(venv, version)
    return venv


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; the kernel releases it if the process dies."""
    with path.open("a") as handle:
        if not _try_lock(handle.fileno()):
            _progress(f"waiting for another process installing Open WebUI ({path})")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _build(venv: Path, version: str) -> None:
    """Build the venv in place, from scratch, and stamp it last."""
    stamp = venv.parent / STAMP_NAME
    stamp.unlink(missing_ok=True)
    if venv.exists():
        _progress(f"removing the incomplete venv {venv}")
        shutil.rmtree(venv)
    started = time.monotonic()
    _progress(f"installing open-webui {version} into {venv} (about 2 minutes and 800 MB, once)")
    # The base interpreter, not this venv's: the new venv must not depend on the dev venv.
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--no-deps", f"open-webui=={version}"])
    requirements = _site_packages(python) / "requirements-slim.txt"
    if not requirements.is_file():
        raise RuntimeError(f"open-webui {version} ships no {requirements.name} (looked at {requirements})")
    _run([python, "-m", "pip", "install", "-r", str(requirements)])
    if not (venv / "bin" / "open-webui").is_file():
        raise RuntimeError(f"open-webui {version} installed no bin/open-webui script in {venv}")
    # Written to a temporary name then renamed, so that a reader never sees half a stamp.
    partial = stamp.with_suffix(".partial")
    partial.write_text(f"{version}\n")
    partial.replace(stamp)
    _progress(f"open-webui {version} installed in {time.monotonic() - started:.0f} s")


def _site_packages(python: str) -> Path:
    completed = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(completed.stdout.strip())


def _run(argv: list[str]) -> None:
    """Run one install step, its output going to stderr (pytest shows it on failure)."""
    _progress("$ " + " ".join(argv))
    completed = subprocess.run(argv, check=False, stdout=sys.stderr, stderr=sys.stderr)
    if completed.returncode != 0:
        raise RuntimeError(f"installing Open WebUI failed (exit {completed.returncode}): {' '.join(argv)}")


def _progress(message: str) -> None:
    print(f"[openwebui-install] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Build the venv of the version named (default: DEFAULT_VERSION) and print its path."""
    args = sys.argv[1:] if argv is None else argv
    version = args[0] if args else DEFAULT_VERSION
    print(ensure_openwebui(version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
