"""Install a runtime or a function's requirement set with pip, then compile it (runs in the installer sandbox).

The installer is a sandbox like any other, fully confined before this runs: its network is
the package source's hosts only (through the gateway's egress relay), the runtime and any
local package source read-only, and one writable directory, the staging directory, bound at
``SITE``. pip runs in this process (``pip._internal.cli.main``) because seccomp forbids
``execve``; what it prints goes to the captured output, which the gateway streams to the
caller as progress.

Only wheels are accepted (``--only-binary=:all:``): installing a wheel unpacks files,
building a source distribution would run the package's own ``setup.py`` or build backend.
``SITE`` is never put on ``sys.path`` here, so nothing pip unpacks can shadow pip itself,
and compiling bytecode parses the sources without running them.

Two kinds of job:

* ``runtime``: a hash-pinned lock, the whole closure, installed as it is (``--no-deps
  --require-hashes``).
* ``set``: a function's requirements, layered over its runtime. The runtime is on this
  process's ``sys.path``, so pip sees its packages as installed: a dry run resolves the set
  against them (pip's default ``only-if-needed``), and only what the runtime does not
  already satisfy, at the versions resolved, is then installed into ``SITE`` with
  ``--no-deps``. A pin that conflicts with the runtime is resolved to the pinned version
  and, ``SITE`` coming first on the function's path, wins for that function, as pip over
  upstream's server environment would.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from runner.channel import Channel

#: Where a function's requirement set is mounted: read-write here, read-only in its workers.
SITE = "/airlock/site"
_REPORT = "/tmp/pip-report.json"
_RESOLVED = "/tmp/pip-resolved.json"
_LOCK = "/tmp/requirements.txt"
#: Where pip saves what it downloads: inside the staging directory, moved out by the gateway
#: (into the shared wheel cache) before the directory is published.
DOWNLOADS = f"{SITE}/.downloads"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: pip keeps what it downloads for this job only (the sandbox's private /tmp): the dry run's
#: downloads serve the install that follows.
_CACHE = "/tmp/pip-cache"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_VERSION = re.compile(r"^[A-Za-z0-9._+!-]{1,200}$")
_MAX_PACKAGES = 1000


def _common(source_options: list[str]) -> list[str]:
    return [
        "--only-binary=:all:",
        "--cache-dir",
        _CACHE,
        "--disable-pip-version-check",
        "--no-input",
        "--isolated",
        "--no-color",
        "--progress-bar",
        "off",
        *source_options,
    ]


def download_arguments(requirements_file: str, source_options: list[str]) -> list[str]:
    """``pip download`` of a requirements file into ``DOWNLOADS`` (everything after ``pip``)."""
    return ["download", "--dest", DOWNLOADS, "--no-deps", *_common(source_options), "-r", requirements_file]


def install_arguments(requirements_file: str, cached: list[str] | None = None) -> list[str]:
    """``pip install`` of a requirements file into ``SITE``, offline, from ``DOWNLOADS`` and ``cached`` only.

    ``cached`` are ``--find-links`` options of the wheel cache's directories.
    """
    return [
        "install",
        "--target",
        SITE,
        "--no-deps",
        "--no-compile",  # compiled below, once, with the workers' settings
        "--report",
        _REPORT,
        *_common(["--no-index", "--find-links", DOWNLOADS, *(cached or [])]),
        "-r",
        requirements_file,
    ]


def resolve_arguments(specs: list[str], source_options: list[str]) -> list[str]:
    """The dry run that resolves a function's set against the runtime on ``sys.path``."""
    return [
        "install",
        "--dry-run",
        "--report",
        _RESOLVED,
        *_common(source_options),
        # Specs never start with '-' (the gateway refuses those); '--' makes sure of it.
        "--",
        *specs,
    ]


def _reported(report_path: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(name, version, item)`` of every package in a pip ``--report``'s install list.

    The report is the installer's own pip's, but names and versions are still checked by
    pattern (and their number bounded) before anything is built from them.
    """
    report: dict[str, Any] = orjson.loads(Path(report_path).read_bytes())
    packages = []
    for item in report.get("install", [])[:_MAX_PACKAGES]:
        metadata = item.get("metadata", {})
        name, version = str(metadata.get("name", "")), str(metadata.get("version", ""))
        if _NAME.match(name) and _VERSION.match(version):
            packages.append((name, version, item))
    return packages


def _resolved() -> list[dict[str, str]]:
    """Name and version of every package pip installed, from its ``--report``."""
    return [{"name": name, "version": version} for name, version, _ in _reported(_REPORT)]


def _pip(arguments: list[str]) -> int:
    from pip._internal.cli.main import main as pip_main  # noqa: PLC0415 - only installers import pip

    try:
        return pip_main(arguments)
    except SystemExit as exc:  # pip's option parser exits on errors
        return exc.code if isinstance(exc.code, int) else 2


def _pins(report_path: str) -> list[tuple[str, str]]:
    """``(name==version, sha256)`` of what a dry run would install (what the runtime lacks or conflicts with).

    The hash is the one pip verified against the index's (or computed for a local file),
    "" when the report has none.
    """
    pins = []
    for name, version, item in _reported(report_path):
        archive = item.get("download_info", {}).get("archive_info", {})
        digest = str(archive.get("hashes", {}).get("sha256", ""))
        if not digest and str(archive.get("hash", "")).startswith("sha256="):
            digest = str(archive["hash"]).removeprefix("sha256=")
        pins.append((f"{name}=={version}", digest if _SHA256.match(digest) else ""))
    return pins


def _cached(cache: str | None, line: str) -> list[str]:
    """The shared cache's directories holding a file of ``line`` (by one of its hashes).

    The cache is content-addressed (``sha256/<hex>/<file>``, written only by the gateway,
    which hashed each file itself) and every job that uses it runs pip in hash-checking
    mode, so a cached file is only ever taken where its hash is the one asked for.
    """
    if not cache:
        return []
    hashes = [word.removeprefix("--hash=sha256:") for word in line.split()[1:] if word.startswith("--hash=sha256:")]
    directories = [f"{cache}/sha256/{digest}" for digest in hashes if _SHA256.match(digest)]
    return [directory for directory in directories if os.path.isdir(directory)]


def _download_and_install(lines: list[str], source_options: list[str], cache: str | None) -> int:
    """Fetch what the cache lacks of ``lines``, then install all of them offline.

    Downloads land in ``DOWNLOADS``, inside the staging directory, from where the gateway
    moves them into the shared cache once the job has succeeded. Cached wheels are never
    fetched: pip would prefer the index's copy of the same file, so they are left out of the
    download and offered to the offline install only, in their cache directories.
    """
    cached: list[str] = []
    missing: list[str] = []
    for line in lines:
        found = _cached(cache, line)
        cached += found
        if not found:
            missing.append(line)
    print(f"{len(lines) - len(missing)} of {len(lines)} wheels are in the cache", flush=True)  # noqa: T201
    if missing:
        Path(_LOCK).write_text("".join(f"{line}\n" for line in missing))
        status = _pip(download_arguments(_LOCK, source_options))
        if status != 0:
            return status
    Path(_LOCK).write_text("".join(f"{line}\n" for line in lines))
    return _pip(install_arguments(_LOCK, [option for d in cached for option in ("--find-links", d)]))


def _failed(status: int, step: str) -> dict[str, Any]:
    return {"op": "installed", "ok": False, "packages": [], "error": f"pip {step} exited with status {status}"}


def _runtime_lines(lock: str) -> list[str]:
    """A lock's requirement lines, as the gateway normalised them (one per package, hashes inline)."""
    return [line for line in lock.splitlines() if line.strip()]


def _install(job: dict[str, Any]) -> dict[str, Any]:
    # Files must be readable by the (other) uids of the sandboxes that will import them.
    os.umask(0o022)
    # The environment is empty; pip looks up a home for its configuration even with
    # --isolated. The sandbox's own private /tmp is the only candidate.
    os.environ["HOME"] = "/tmp"
    source_options = list(job["source_options"])
    cache = job.get("cache") or None
    if job.get("kind") == "runtime":
        lines = _runtime_lines(str(job["lock"]))
        print(f"installing the runtime's {len(lines)} pinned packages", flush=True)  # noqa: T201 - progress
        status = _download_and_install(lines, source_options, cache)
        if status != 0:
            return _failed(status, "install")
    else:
        status = _pip(resolve_arguments(list(job["specs"]), source_options))
        if status != 0:
            return _failed(status, "resolution")
        pins = _pins(_RESOLVED)
        if not pins:
            print("the runtime already satisfies every requirement", flush=True)  # noqa: T201
            return {"op": "installed", "ok": True, "packages": [], "error": ""}
        print(f"installing what the runtime lacks: {' '.join(pin for pin, _ in pins)}", flush=True)  # noqa: T201
        # Hash-checking mode (and the cache) only when every pin has its hash: pip takes all
        # or none of them.
        if all(digest for _, digest in pins):
            lines = [f"{pin} --hash=sha256:{digest}" for pin, digest in pins]
        else:
            lines = [pin for pin, _ in pins]
        status = _download_and_install(lines, source_options, cache)
        if status != 0:
            return _failed(status, "install")
    print("compiling bytecode", flush=True)  # noqa: T201 - progress for the caller
    # Same interpreter and optimisation level as the workers, and the path they import
    # from, so the .pyc files are valid there and nothing is ever compiled at run time.
    # A runtime is bound at its own path (compile_as), a set at SITE: the .pyc files name
    # their sources where the sandboxes that import them see them.
    if not compileall.compile_dir(SITE, quiet=1, workers=1, ddir=str(job.get("compile_as") or SITE)):
        # A file that is not valid Python 3 (a template, test data) stays uncompiled, as
        # it would stay unimportable; the package itself may never import it.
        print("some files did not compile (listed above)", flush=True)  # noqa: T201
    return {"op": "installed", "ok": True, "packages": _resolved(), "error": ""}


def run(job: dict[str, Any], channel: Channel) -> None:
    """Run pip for the job's specs, compile what it installed, and report the packages.

    The output is closed before the answer is sent: this process is its only holder, so
    the gateway then reads to its end and has all of pip's output, in order, for the
    caller and for the error message.
    """
    try:
        answer = _install(job)
    except Exception as exc:  # noqa: BLE001 - pip or the report failed: an answer, not a crash
        answer = {"op": "installed", "ok": False, "packages": [], "error": f"{type(exc).__name__}: {exc}"[:4000]}
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.close(1)
    os.close(2)
    channel.send(answer)
