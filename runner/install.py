"""Install one requirement set with pip, then compile it (runs in the installer sandbox).

The installer is a sandbox like any other, fully confined before this runs: no network,
the runtime and the operator's wheelhouse read-only, and one writable directory, the
staging directory of the set, bound at ``SITE``. pip runs in this process
(``pip._internal.cli.main``) because seccomp forbids ``execve``; what it prints goes to the
captured output, which the gateway streams to the caller as progress.

Only wheels are accepted (``--only-binary=:all:``): installing a wheel unpacks files,
building a source distribution would run the package's own ``setup.py`` or build backend.
``SITE`` is never put on ``sys.path`` here, so nothing pip unpacks can shadow pip itself,
and compiling bytecode parses the sources without running them.
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
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_VERSION = re.compile(r"^[A-Za-z0-9._+!-]{1,200}$")
_MAX_PACKAGES = 1000


def pip_arguments(specs: list[str], source_options: list[str]) -> list[str]:
    """The ``pip install`` command line (everything after ``pip``)."""
    return [
        "install",
        "--target",
        SITE,
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--isolated",
        "--no-color",
        "--progress-bar",
        "off",
        "--no-compile",  # compiled below, once, with the workers' settings
        "--report",
        _REPORT,
        *source_options,
        # Specs never start with '-' (the gateway refuses those); '--' makes sure of it.
        "--",
        *specs,
    ]


def _resolved() -> list[dict[str, str]]:
    """Name and version of every package pip installed, from its ``--report``."""
    report: dict[str, Any] = orjson.loads(Path(_REPORT).read_bytes())
    packages = []
    for item in report.get("install", [])[:_MAX_PACKAGES]:
        metadata = item.get("metadata", {})
        name, version = str(metadata.get("name", "")), str(metadata.get("version", ""))
        if _NAME.match(name) and _VERSION.match(version):
            packages.append({"name": name, "version": version})
    return packages


def _install(job: dict[str, Any]) -> dict[str, Any]:
    from pip._internal.cli.main import main as pip_main  # noqa: PLC0415 - only installers import pip

    # Files must be readable by the (other) uids of the sandboxes that will import them.
    os.umask(0o022)
    # The environment is empty; newer pips look up a home for their cache and config even
    # with --no-cache-dir --isolated. The sandbox's own private /tmp is the only candidate.
    os.environ["HOME"] = "/tmp"
    try:
        status = pip_main(pip_arguments(list(job["specs"]), list(job["source_options"])))
    except SystemExit as exc:  # pip's option parser exits on errors
        status = exc.code if isinstance(exc.code, int) else 2
    if status != 0:
        return {"op": "installed", "ok": False, "packages": [], "error": f"pip exited with status {status}"}
    print("compiling bytecode", flush=True)  # noqa: T201 - progress for the caller
    # Same interpreter and optimisation level as the workers, and the path they import
    # from, so the .pyc files are valid there and nothing is ever compiled at run time.
    if not compileall.compile_dir(SITE, quiet=1, workers=1):
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
