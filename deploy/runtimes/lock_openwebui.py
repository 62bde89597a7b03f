"""Generate the lock of the runtime that mirrors an Open WebUI release's own requirements.

Usage:
    python deploy/runtimes/lock_openwebui.py --version 0.12.4 --out FILE [--wheel PATH] [--glibc 2.28]

Run it with a CPython 3.11 that has pip (packaging is the only other import). It

1. takes open-webui==VERSION's wheel (``pip download --no-deps``, or ``--wheel``) and reads
   its base Requires-Dist (no extras);
2. leaves out the packages in LEFT_OUT, those a sandbox cannot use because they need GPUs,
   model weights or system services; everything else stays at upstream's exact version;
3. resolves the kept requirements' full closure with pip (``install --dry-run --report``),
   once for Linux x86_64 and once for aarch64, against the index pip is configured with;
4. writes a pip hash-checking requirements file: one ``name==version`` per package with the
   sha256 of every wheel pip chose on either platform, and a header that records where it
   came from, what was left out and why, and upstream's requirements as read (so
   tests/unit/test_runtime_lock.py can check the lock against them without a network).

docs/RUNTIMES.md says how the default runtime was made and how to make the next one.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

# What a sandbox cannot use, with the reason the lock's header and docs/RUNTIMES.md give.
# Only GPUs, model weights and system services are reasons: Open WebUI's own server
# machinery (uvicorn, alembic, socketio, database and cache clients, ...) stays, because a
# plugin written against Open WebUI may import any of it, and it installs and imports
# fine without a GPU or a service. torch, triton and torchvision are not direct requirements
# of Open WebUI; they are listed so that a kept requirement that starts pulling them in
# fails the generation instead of slipping gigabytes of CUDA into the runtime.
LEFT_OUT: dict[str, str] = {
    "accelerate": "GPU and multi-device execution of torch models; requires torch",
    "chromadb": (
        "embedded vector database: its default embedding function runs an ONNX model it downloads,"
        " and it pulls onnxruntime, tokenizers and a server stack (kubernetes, opentelemetry)"
    ),
    "faster-whisper": (
        "speech-to-text with CTranslate2: needs downloaded Whisper model weights; pulls ctranslate2 and onnxruntime"
    ),
    "onnxruntime": "inference runtime for ONNX model weights, of no use without a model file",
    "opencv-python-headless": (
        "computer vision for rapidocr's OCR (ONNX model weights); left out with rapidocr, and no kept package needs it"
    ),
    "rapidocr": "OCR that runs ONNX model weights through onnxruntime and opencv",
    "sentence-transformers": "embedding models: needs downloaded model weights and torch",
    "torch": (
        "tensor library for GPUs (not a direct requirement: accelerate and sentence-transformers pull it);"
        " its Linux x86_64 wheels pull the nvidia-* CUDA libraries and triton, gigabytes"
    ),
    "torchvision": "torch's vision models and image ops; requires torch",
    "transformers": "model library: everything it does needs downloaded model weights (most models also torch)",
    "triton": "GPU kernel compiler that torch's Linux wheels pull",
}
# Whole families left out for the same reason (CUDA runtime libraries come as nvidia-*).
LEFT_OUT_PREFIXES: dict[str, str] = {
    "nvidia-": "CUDA runtime libraries for GPUs, pulled by torch",
}
# The runner imports these inside the sandbox (docs/RUNTIMES.md): every runtime has them.
RUNNER_NEEDS = ("orjson", "pydantic")

TARGET_PYTHON = "3.11"
ARCHES = ("x86_64", "aarch64")
# The oldest glibc the lock's wheels may need; 2.28 is RHEL 8's, older than any current distribution.
DEFAULT_GLIBC = "2.28"
# The legacy manylinux names pip does not expand by itself, by the glibc minor they stand for.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
# aarch64 manylinux wheels start at glibc 2.17 (manylinux2014).
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "aarch64": 17}

UPSTREAM_PREFIX = "# upstream: "
LEFT_OUT_PREFIX = "# left out: "


@dataclass(frozen=True)
class Pin:
    """One package of a lock: its version and the sha256 of each wheel it may be installed from."""

    name: NormalizedName
    version: str
    hashes: frozenset[str]


@dataclass
class Lock:
    """A parsed lock file: its pins in file order and the upstream requirements its header records."""

    pins: list[Pin] = field(default_factory=list)
    upstream: list[Requirement] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


class LockError(Exception):
    """The lock cannot be made or does not hold what a runtime must."""


# --- upstream metadata ---------------------------------------------------------------------


def wheel_metadata(wheel: Path) -> Message:
    """The METADATA of a wheel, parsed as the email-header format it is written in."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        if len(names) != 1:
            raise LockError(f"{wheel.name}: expected one *.dist-info/METADATA, found {names}")
        text = archive.read(names[0]).decode("utf-8")
    return email.parser.HeaderParser().parsestr(text)


def target_environment(arch: str) -> dict[str, str]:
    """Marker variables of CPython 3.11 on Linux for ``arch`` (the host's for the rest)."""
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(
        implementation_name="cpython",
        platform_python_implementation="CPython",
        python_version=TARGET_PYTHON,
        os_name="posix",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine=arch,
    )
    if not env["python_full_version"].startswith(TARGET_PYTHON + "."):
        env["python_full_version"] = TARGET_PYTHON + ".0"
    return env


def base_requirements(metadata: Message) -> list[Requirement]:
    """Requires-Dist entries that apply without extras on the target, in the wheel's order.

    A requirement under ``extra == '...'`` evaluates false with no extra; one with any other
    marker must hold on every target architecture, or which platforms get it is ambiguous.
    """
    kept: list[Requirement] = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None:
            kept.append(requirement)
            continue
        verdicts = {requirement.marker.evaluate({**target_environment(arch), "extra": ""}) for arch in ARCHES}
        if verdicts == {True}:
            kept.append(requirement)
        elif verdicts == {True, False}:
            raise LockError(f"upstream requirement {line!r} holds on some target architectures only")
    return kept


def exact_version(requirement: Requirement) -> str:
    """The version an upstream requirement pins with ``==`` (Open WebUI pins every one)."""
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
        raise LockError(f"upstream requirement {requirement} is not pinned to one exact version")
    return specifiers[0].version


def left_out_reason(name: str) -> str | None:
    """Why a package stays out of the runtime, or None when it goes in."""
    normalized = canonicalize_name(name)
    if normalized in LEFT_OUT:
        return LEFT_OUT[normalized]
    for prefix, reason in LEFT_OUT_PREFIXES.items():
        if normalized.startswith(prefix):
            return reason
    return None


# --- resolution ----------------------------------------------------------------------------


def platform_tags(arch: str, glibc: str) -> list[str]:
    """Every manylinux platform tag a glibc-``glibc`` Linux on ``arch`` accepts, newest first.

    pip's ``--platform`` takes tags literally (it expands only the legacy manylinux2014/2010
    names), so a wheel tagged manylinux_2_17 is found only if manylinux_2_17 is listed.
    """
    major, minor = (int(part) for part in glibc.split("."))
    if major != 2 or minor < _OLDEST_GLIBC_MINOR[arch]:
        raise LockError(f"glibc {glibc} is not a manylinux target on {arch}")
    tags: list[str] = []
    for glibc_minor in range(minor, _OLDEST_GLIBC_MINOR[arch] - 1, -1):
        tags.append(f"manylinux_2_{glibc_minor}_{arch}")
        legacy = _LEGACY_MANYLINUX.get(glibc_minor)
        if legacy is not None:
            tags.append(f"{legacy}_{arch}")
    return tags


def pip_environment() -> dict[str, str]:
    """The environment pip runs in: the caller's, with the host's constraints file switched off.

    The index, extra indexes, find-links and certificates stay as pip is configured (the
    lock must come from the index operators install from). A configured constraints file
    is a host-local cap (this project's development machines cap torch, for one) and must
    not bend upstream's versions silently. An empty PIP_CONSTRAINT does not override the
    config file (pip skips empty values), so it points at the empty os.devnull instead;
    ``-c`` on the command line still adds to it.
    """
    env = dict(os.environ)
    env["PIP_CONSTRAINT"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run_pip(args: Sequence[str], log: Path) -> None:
    """Run ``python -m pip ARGS``, its output to ``log``; on failure show the log's tail."""
    command = [sys.executable, "-m", "pip", *args]
    with log.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=pip_environment(), check=False)
    if result.returncode != 0:
        # pip's "Location ... is ignored" lines for indexes without a project say nothing here.
        lines = [line for line in log.read_text().splitlines() if "is ignored" not in line]
        tail = "\n".join(lines[-30:])
        raise LockError(f"{shlex.join(command)} exited {result.returncode}:\n{tail}")


def download_wheel(version: str, dest: Path) -> Path:
    """open-webui==VERSION's wheel from the configured index, downloaded into ``dest``."""
    run_pip(
        ["download", "--no-deps", "--only-binary=:all:", "--dest", str(dest), f"open-webui=={version}"],
        dest / "download.log",
    )
    wheels = sorted(dest.glob("open_webui-*.whl"))
    if len(wheels) != 1:
        raise LockError(f"pip download left {[w.name for w in wheels]} in {dest}")
    return wheels[0]


def resolve(
    requirements: Sequence[Requirement], arch: str, glibc: str, work: Path, pins: Iterable[Pin] = ()
) -> list[dict[str, Any]]:
    """The installation report pip makes for ``requirements`` on CPython 3.11, Linux ``arch``, wheels only.

    ``pins`` constrain the resolution to versions already chosen (for the second platform).
    """
    requirements_file = work / f"requirements-{arch}.txt"
    requirements_file.write_text("".join(f"{r}\n" for r in requirements))
    args = [
        "install",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        "--python-version",
        TARGET_PYTHON,
        "--implementation",
        "cp",
        "--abi",
        "cp" + TARGET_PYTHON.replace(".", ""),
        *(arg for tag in platform_tags(arch, glibc) for arg in ("--platform", tag)),
        # pip accepts --platform only with --target; nothing is written there in a dry run.
        "--target",
        str(work / f"target-{arch}"),
        "--report",
        str(work / f"report-{arch}.json"),
        "-r",
        str(requirements_file),
    ]
    pins = list(pins)
    if pins:
        constraints = work / f"constraints-{arch}.txt"
        constraints.write_text("".join(f"{p.name}=={p.version}\n" for p in pins))
        args += ["-c", str(constraints)]
    run_pip(args, work / f"pip-{arch}.log")
    report = json.loads((work / f"report-{arch}.json").read_text())
    items: list[dict[str, Any]] = report["install"]
    return items


def pins_from_report(items: Iterable[Mapping[str, Any]]) -> dict[NormalizedName, Pin]:
    """Each reported package's version and the sha256 of the file pip chose for it."""
    pins: dict[NormalizedName, Pin] = {}
    for item in items:
        name = canonicalize_name(item["metadata"]["name"])
        info = item["download_info"]
        url = info["url"]
        if not url.endswith(".whl"):
            raise LockError(f"{name}: pip chose {url}, not a wheel")
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise LockError(f"{name}: the index gave no sha256 for {url}")
        pins[name] = Pin(name, item["metadata"]["version"], frozenset({digest}))
    return pins


def merge_platforms(per_arch: Mapping[str, Mapping[NormalizedName, Pin]]) -> dict[NormalizedName, Pin]:
    """One pin per package with every platform's wheel hash; the platforms must agree on versions."""
    name_sets = {arch: set(pins) for arch, pins in per_arch.items()}
    everywhere = set.intersection(*name_sets.values())
    for arch, names in name_sets.items():
        if names != everywhere:
            raise LockError(f"only {arch} resolved {', '.join(sorted(names - everywhere))}")
    merged: dict[NormalizedName, Pin] = {}
    for arch, pins in per_arch.items():
        for name, pin in pins.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = pin
            elif seen.version != pin.version:
                raise LockError(f"{name}: {arch} resolved {pin.version}, another platform {seen.version}")
            else:
                merged[name] = Pin(name, pin.version, seen.hashes | pin.hashes)
    return merged


def _applies(requirement: Requirement, env: Mapping[str, str], extras: Iterable[str]) -> bool:
    """Whether a dependency is needed on ``env`` by a package installed with ``extras``."""
    marker = requirement.marker
    return marker is None or any(marker.evaluate({**env, "extra": extra}) for extra in {"", *extras})


def active_extras(
    top: Iterable[Requirement], items: Iterable[Mapping[str, Any]], arch: str
) -> dict[NormalizedName, set[str]]:
    """The extras each package of the closure is installed with on ``arch``, from the top down."""
    env = target_environment(arch)
    declared = {
        canonicalize_name(item["metadata"]["name"]): [
            Requirement(line) for line in item["metadata"].get("requires_dist") or []
        ]
        for item in items
    }
    extras: dict[NormalizedName, set[str]] = {name: set() for name in declared}
    visited: set[NormalizedName] = set()
    queue = deque((canonicalize_name(r.name), set(r.extras)) for r in top if _applies(r, env, ()))
    while queue:
        name, wanted = queue.popleft()
        known = extras.setdefault(name, set())
        if name in visited and wanted <= known:
            continue
        visited.add(name)
        known |= wanted
        for requirement in declared.get(name, []):
            if _applies(requirement, env, known):
                queue.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return extras


def check_closure(
    top: Sequence[Requirement], items: Sequence[Mapping[str, Any]], pins: Mapping[NormalizedName, Pin], arch: str
) -> None:
    """Every dependency each locked package declares for ``arch`` is locked at a version it accepts.

    pip evaluates environment markers for the host, not for ``--platform``; this evaluates
    them for the target itself (with the extras each package is asked for), so a dependency
    only aarch64 (or only x86_64) needs cannot be missing from a lock made on the other.
    """
    env = target_environment(arch)
    extras = active_extras(top, items, arch)
    problems: list[str] = []
    for item in items:
        owner = canonicalize_name(item["metadata"]["name"])
        for line in item["metadata"].get("requires_dist") or []:
            requirement = Requirement(line)
            if not _applies(requirement, env, extras.get(owner, set())):
                continue
            pin = pins.get(canonicalize_name(requirement.name))
            if pin is None:
                problems.append(f"{owner} requires {requirement} on {arch}, which is not locked")
            elif not requirement.specifier.contains(Version(pin.version), prereleases=True):
                problems.append(f"{owner} requires {requirement} on {arch}, locked {pin.version}")
    if problems:
        raise LockError("\n".join(problems))


def pulled_in_by(name: str, top: Sequence[Requirement], items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Which top-level requirements' dependency chains reach ``name`` (for the error message)."""
    graph: dict[NormalizedName, set[NormalizedName]] = {}
    for item in items:
        deps = {canonicalize_name(Requirement(line).name) for line in item["metadata"].get("requires_dist") or []}
        graph[canonicalize_name(item["metadata"]["name"])] = deps
    target = canonicalize_name(name)
    found: list[str] = []
    for requirement in top:
        start = canonicalize_name(requirement.name)
        parents: dict[NormalizedName, NormalizedName | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == target:
                chain: list[str] = []
                step: NormalizedName | None = node
                while step is not None:
                    chain.append(step)
                    step = parents[step]
                found.append(" -> ".join(reversed(chain)))
                break
            for dep in sorted(graph.get(node, set())):
                if dep not in parents:
                    parents[dep] = node
                    queue.append(dep)
    return found


# --- the lock file -------------------------------------------------------------------------


def render_lock(
    pins: Mapping[NormalizedName, Pin],
    upstream: Sequence[Requirement],
    provenance: Sequence[str],
) -> str:
    """The lock's text: header comments, then pins sorted by name in pip's hash-checking format."""
    lines = [f"# {line}" if line else "#" for line in provenance]
    lines += [
        "#",
        "# Left out: packages a sandbox cannot use (they need GPUs, model weights or system services),",
        "# and everything that would pull them in. Everything else is at Open WebUI's exact version.",
    ]
    lines += [f"{LEFT_OUT_PREFIX}{name}: {reason}" for name, reason in sorted(LEFT_OUT.items())]
    lines += [f"{LEFT_OUT_PREFIX}{prefix}*: {reason}" for prefix, reason in sorted(LEFT_OUT_PREFIXES.items())]
    lines += ["#", "# Open WebUI's base requirements as its wheel's METADATA states them (Requires-Dist, no extras):"]
    lines += [f"{UPSTREAM_PREFIX}{requirement}" for requirement in upstream]
    lines.append("")
    for name in sorted(pins):
        pin = pins[name]
        hashes = [f"    --hash=sha256:{digest}" for digest in sorted(pin.hashes)]
        lines.append(" \\\n".join([f"{pin.name}=={pin.version}", *hashes]))
    return "\n".join(lines) + "\n"


def parse_lock(text: str) -> Lock:
    """A lock file's pins and header records; raises LockError on anything pip would not pin.

    Every requirement must be ``name==version`` followed by one or more ``--hash=sha256:``
    options (backslash continuations joined first), as ``pip install --require-hashes`` needs.
    """
    lock = Lock()
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.startswith(UPSTREAM_PREFIX):
            lock.upstream.append(Requirement(raw.removeprefix(UPSTREAM_PREFIX)))
            continue
        if raw.startswith(LEFT_OUT_PREFIX):
            name, _, reason = raw.removeprefix(LEFT_OUT_PREFIX).partition(": ")
            lock.left_out[name] = reason
            continue
        line = "" if raw.lstrip().startswith("#") else raw.strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            logical.append(line)
    if pending.strip():
        raise LockError("the lock ends inside a continued line")
    for line in logical:
        requirement, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^=;\s\[\]]+)", requirement)
        if match is None:
            raise LockError(f"not pinned with ==: {line!r}")
        hashes: set[str] = set()
        for option in options:
            digest = re.fullmatch(r"--hash=sha256:([0-9a-f]{64})", option)
            if digest is None:
                raise LockError(f"{requirement}: unexpected option {option!r}")
            hashes.add(digest.group(1))
        if not hashes:
            raise LockError(f"{requirement}: no --hash=sha256")
        lock.pins.append(Pin(canonicalize_name(match.group(1)), match.group(2), frozenset(hashes)))
    return lock


def check_lock(pins: Mapping[NormalizedName, Pin], upstream: Sequence[Requirement]) -> None:
    """What every lock this script writes must hold, whatever the release."""
    problems = [f"the runner imports {name}, which is not locked" for name in RUNNER_NEEDS if name not in pins]
    problems += [f"{name} is locked but left out: {left_out_reason(name)}" for name in pins if left_out_reason(name)]
    for requirement in upstream:
        name = canonicalize_name(requirement.name)
        if left_out_reason(name):
            continue
        pin = pins.get(name)
        if pin is None or Version(pin.version) != Version(exact_version(requirement)):
            locked = pin.version if pin else "nothing"
            problems.append(f"upstream requires {requirement}, locked {locked}")
    if problems:
        raise LockError("\n".join(problems))


# --- the command ---------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_lock(version: str, wheel: Path | None, glibc: str, command: str, work: Path) -> str:
    """The text of the lock for Open WebUI ``version`` (downloading its wheel unless given)."""
    if wheel is None:
        wheel = download_wheel(version, work)
    metadata = wheel_metadata(wheel)
    if canonicalize_name(metadata["Name"]) != "open-webui" or Version(metadata["Version"]) != Version(version):
        raise LockError(f"{wheel.name} is {metadata['Name']} {metadata['Version']}, not open-webui {version}")
    upstream = base_requirements(metadata)
    kept = [r for r in upstream if not left_out_reason(r.name)]
    print(f"open-webui {version}: {len(upstream)} base requirements, {len(upstream) - len(kept)} left out")

    per_arch: dict[str, dict[NormalizedName, Pin]] = {}
    reports: dict[str, list[dict[str, Any]]] = {}
    for arch in ARCHES:
        # The first platform's versions constrain the others, so all agree (or fail to).
        first = next(iter(per_arch.values()), {})
        print(f"resolving for CPython {TARGET_PYTHON}, manylinux glibc >= {glibc}, {arch} ...", flush=True)
        reports[arch] = resolve(kept, arch, glibc, work, first.values())
        per_arch[arch] = pins_from_report(reports[arch])
        pulled = sorted(name for name in per_arch[arch] if left_out_reason(name))
        if pulled:
            chains = [chain for name in pulled for chain in pulled_in_by(name, kept, reports[arch])]
            raise LockError(
                "kept requirements pull in left-out packages; add the pulling requirement to LEFT_OUT "
                "with its reason:\n  " + "\n  ".join(chains)
            )
    pins = merge_platforms(per_arch)
    for arch in ARCHES:
        check_closure(kept, reports[arch], pins, arch)
    check_lock(pins, upstream)

    provenance = [
        f"Airlock runtime openwebui-{version}: Open WebUI {version}'s requirements, less what a sandbox cannot use.",
        "Do not edit: regenerate with the command below (docs/RUNTIMES.md, 'The default runtime').",
        f"Generated by: {command}",
        f"Generated on: {datetime.now(UTC).date().isoformat()}, from {wheel.name} (sha256 {sha256_of(wheel)})",
        f"Resolved by: pip {importlib.metadata.version('pip')}, wheels only, for CPython {TARGET_PYTHON} on Linux "
        f"{' and '.join(ARCHES)}, manylinux glibc >= {glibc}",
        "Hashes: each package lists the sha256 of the wheel pip chose on each of those platforms.",
        f"Packages: {len(pins)}",
    ]
    return render_lock(pins, upstream, provenance)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the lock; print what went wrong and return 1 when it cannot be made."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--version", required=True, help="the open-webui release, e.g. 0.12.4")
    parser.add_argument("--out", type=Path, help="default: sandbox_profiles/runtimes/openwebui-VERSION.txt")
    parser.add_argument("--wheel", type=Path, help="a local open-webui wheel instead of downloading it")
    parser.add_argument("--glibc", default=DEFAULT_GLIBC, help=f"oldest glibc to support (default {DEFAULT_GLIBC})")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        # pip evaluates the closure's python_version markers for the interpreter it runs in.
        print(f"run this with CPython {TARGET_PYTHON} (this is {sys.version.split()[0]})", file=sys.stderr)
        return 1
    out: Path = args.out or Path("sandbox_profiles/runtimes") / f"openwebui-{args.version}.txt"
    command = shlex.join(
        ["python", "deploy/runtimes/lock_openwebui.py", "--version", args.version, "--out", str(out)]
        + (["--glibc", args.glibc] if args.glibc != DEFAULT_GLIBC else [])
    )
    try:
        with tempfile.TemporaryDirectory(prefix="owui-lock-") as tmp:
            text = make_lock(args.version, args.wheel, args.glibc, command, Path(tmp))
    except LockError as error:
        print(f"lock_openwebui: {error}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}: {len(parse_lock(text).pins)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
