"""What the container check (container_check.py) brings into the VM, made once and cached.

No registry is reachable from this machine: Docker itself, the base image and every Python
package come from the sources that are (Debian's mirror and PyPI, through this host's apt and
pip configuration), fetched on the host and kept under ``<cache_root()>/docker``::

    debs/                       .debs of Docker and of what the host lacks for it (apt-get download)
    python-base-<key>.tar       the root of the local python:3.11-slim-bookworm (docker import)
    index-<key>/simple, files/  a PEP 503 index of every wheel the image build installs

Each is keyed by what goes into it, made under the harness's lock in a temporary name and
renamed into place, so a second run takes everything from the cache in about a second.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path

from tests.vm.assets import VMError, _locked, cache_root, tool

#: What runs containers in the guest. Debian's docker.io 20.10 manages its own containerd.
DOCKER_PACKAGES = ("docker.io", "containerd", "runc", "tini", "iptables")
#: Compose v1 (Python): the only compose Debian 12 packages (no v2 plugin is reachable here).
COMPOSE_PACKAGES = ("docker-compose",)

#: The base image's name: the Dockerfile's FROM, found locally so that nothing is pulled.
BASE_IMAGE = "python:3.11-slim-bookworm"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
#: What the official slim image has besides minbase (its Dockerfile installs these).
BASE_PACKAGES = ("ca-certificates", "netbase", "tzdata")
#: Left out of the copied standard library, as in the official slim image (tests, GUI, IDE):
#: _tkinter alone would pull X11 and Tk into the base.
_STDLIB_LEFT_OUT = ("site-packages", "test", "idlelib", "tkinter", "turtledemo", "lib-dynload/_tkinter*")
#: Bump when the base's recipe changes in a way its key does not show.
_BASE_FORMAT = "1"
_INDEX_FORMAT = "1"

#: Set by the check in the image's configuration, as the official image sets them.
BASE_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
    'CMD ["python3"]',
)


def docker_cache() -> Path:
    """Where the container check keeps its assets (beside the VM's kernels)."""
    return cache_root() / "docker"


def _run(argv: list[str], *, cwd: Path | None = None, timeout: float = 1800) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-3000:]
        raise VMError(f"{' '.join(argv[:6])}... failed ({done.returncode}): {said}")
    return done.stdout


# --- Debian packages --------------------------------------------------------------------------

_INST = re.compile(r"^Inst (\S+) \((\S+) ")


def missing_debs(packages: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, version)`` of ``packages`` and their dependencies that this host lacks.

    The guest's root is the host's, so exactly what apt would install here is what the guest
    needs: apt's own simulation answers that (no recommends, as the guest runs no services).
    """
    out = _run([tool("apt-get"), "install", "-s", "-q", "--no-install-recommends", *packages])
    return [(m.group(1), m.group(2)) for line in out.splitlines() if (m := _INST.match(line))]


def ensure_debs(packages: Iterable[str]) -> list[Path]:
    """The .debs to unpack into the guest for ``packages`` (downloaded once, then cached)."""
    directory = docker_cache() / "debs"
    wanted = missing_debs(packages)
    files: list[Path] = []
    with _locked(cache_root()):
        directory.mkdir(parents=True, exist_ok=True)
        for name, version in wanted:
            # apt-get download's file name: the epoch's colon is written %3a.
            pattern = f"{name}_{version.replace(':', '%3a')}_*.deb"
            found = sorted(directory.glob(pattern))
            if not found:
                _run([tool("apt-get"), "download", "-q", f"{name}={version}"], cwd=directory)
                found = sorted(directory.glob(pattern))
            if not found:
                raise VMError(f"apt-get download {name}={version} left no {pattern} in {directory}")
            files.append(found[0])
    return files


# --- The base image ----------------------------------------------------------------------------


def python_libraries(prefix: Path) -> list[str]:
    """The Debian packages holding the shared libraries this Python's extension modules load.

    minbase lacks some (libssl3, libsqlite3-0, libffi8, ...); asking ldd and dpkg keeps the
    base in step with however this interpreter was built.
    """
    stdlib = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    binaries = [p for p in (stdlib / "lib-dynload").glob("*.so") if not p.name.startswith("_tkinter")]
    binaries += sorted((prefix / "lib").glob("libpython*.so.*"))
    libraries: set[str] = set()
    for binary in binaries:
        for line in _run(["ldd", str(binary)]).splitlines():
            parts = line.split("=>")
            path = parts[1].split("(")[0].strip() if len(parts) == 2 else ""
            if path.startswith("/") and not path.startswith(str(prefix)):
                # dpkg knows a file by the path its package ships, which /usr-merge may have
                # moved behind a directory symlink: match the directory's name only.
                library = Path(path)
                libraries.add(f"*/{library.parent.name}/{library.resolve().name}")
    owners = _run(["dpkg-query", "-S", *sorted(libraries)])
    return sorted({line.split(":", 1)[0] for line in owners.splitlines()})


def _base_key(prefix: Path, packages: list[str]) -> str:
    material = "\n".join([_BASE_FORMAT, SUITE, MIRROR, sys.version, str(prefix), *packages])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def ensure_base_rootfs() -> Path:
    """A tar of ``debootstrap --variant=minbase bookworm`` with this host's Python in /usr/local.

    The Dockerfile says ``FROM python:3.11-slim-bookworm``; the check imports this tar under
    that name. It carries the very interpreter the host runs (``sys.base_prefix``: pyenv's
    build), so that the image's Python is the one the project is tested with; pip comes from
    that interpreter's ensurepip, as the official image's comes from get-pip.
    """
    prefix = Path(sys.base_prefix)
    packages = sorted({*BASE_PACKAGES, *python_libraries(prefix)})
    tarball = docker_cache() / f"python-base-{_base_key(prefix, packages)}.tar"
    with _locked(cache_root()):
        if tarball.exists():
            return tarball
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tarball.parent, prefix=".base-") as tmp:
            root = Path(tmp) / "root"
            debootstrap = shutil.which("debootstrap", path="/usr/sbin:/sbin:/usr/bin")
            if debootstrap is None:
                raise VMError("the container check needs debootstrap: apt-get install debootstrap")
            _run([debootstrap, "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(root), MIRROR])
            _install_python(prefix, root)
            # No package lists or archives in an image (the official one removes them too).
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = tarball.with_suffix(".partial")
            # Uncompressed: the guest's emulated CPU would spend minutes inflating it.
            _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
            partial.rename(tarball)
    return tarball


def _install_python(prefix: Path, root: Path) -> None:
    """Copy the interpreter into ``root``/usr/local and give it pip, as the official image has."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    local = root / "usr" / "local"
    # The standard library's .pyc files are kept: with PYTHONDONTWRITEBYTECODE and a read-only
    # root, every process would otherwise compile what it imports, 20x slower under emulation.
    shutil.copytree(prefix / "lib" / f"python{version}", local / "lib" / f"python{version}", symlinks=True)
    stdlib = local / "lib" / f"python{version}"
    for pattern in _STDLIB_LEFT_OUT:
        for path in stdlib.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (stdlib / "site-packages").mkdir()
    for library in (prefix / "lib").glob("libpython*"):
        shutil.copy2(library, local / "lib" / library.name, follow_symlinks=False)
    shutil.copytree(prefix / "include", local / "include", symlinks=True, dirs_exist_ok=True)
    shutil.copy2(prefix / "bin" / f"python{version}", local / "bin" / f"python{version}")
    for name in ("python3", "python"):
        (local / "bin" / name).symlink_to(f"python{version}")
    # The binary's RUNPATH names pyenv's directory, absent in the image: the loader then finds
    # libpython in /usr/local/lib through ld.so.cache.
    _run(["chroot", str(root), "ldconfig"])
    _run(["chroot", str(root), "/usr/local/bin/python3", "-m", "ensurepip", "--default-pip"])
    (local / "bin" / "pip").unlink(missing_ok=True)
    (local / "bin" / "pip").symlink_to("pip3")
    # What the interpreter needs from the base: fail here, not in the middle of docker build.
    check = "import bz2, ctypes, hashlib, lzma, readline, sqlite3, ssl, uuid, zlib; import pip"
    _run(["chroot", str(root), "/usr/local/bin/python", "-c", check])
    _run(["chroot", str(root), "/usr/local/bin/pip", "--version"])


# --- The package index --------------------------------------------------------------------------


def build_requirements(repo: Path) -> list[str]:
    """What ``pip install /src`` needs besides the source: the build backend and the dependencies."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    requires: list[str] = project["build-system"]["requires"]
    dependencies: list[str] = project["project"]["dependencies"]
    return [*requires, *dependencies]


def runtime_locks(repo: Path) -> list[Path]:
    """The shipped runtimes' locks (what ``airlock runtimes build`` installs)."""
    return sorted((repo / "sandbox_profiles" / "runtimes").glob("*.txt"))


def ensure_index(repo: Path) -> Path:
    """A PEP 503 index (``<root>/simple``) holding every wheel the image build installs.

    ``pip download`` on the host, through its pip configuration (the only way to PyPI from
    this machine): the project's build backend and dependencies with theirs, and each runtime
    lock's pinned wheels, hashes checked. The guest's pip reaches it over the VM's network.
    """
    from tests.pkgindex import write_simple_index  # noqa: PLC0415 - imports pytest; only here

    requirements = build_requirements(repo)
    locks = runtime_locks(repo)
    material = "\n".join([_INDEX_FORMAT, sys.version, *requirements, *(p.read_text() for p in locks)])
    root = docker_cache() / f"index-{hashlib.sha256(material.encode()).hexdigest()[:16]}"
    with _locked(cache_root()):
        if (root / "simple" / "index.html").exists():
            return root
        with tempfile.TemporaryDirectory(dir=docker_cache(), prefix=".index-") as tmp:
            staging = Path(tmp) / "index"
            files = staging / "files"
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(files)]
            _run([*pip, *requirements])
            for lock in locks:
                _run([*pip, "--no-deps", "--require-hashes", "-r", str(lock)])
            write_simple_index(staging, [])
            staging.rename(root)
    return root
