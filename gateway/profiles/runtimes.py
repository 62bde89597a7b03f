"""Plugin runtimes: the pinned package sets sandboxes import from, one lock file each.

A runtime is ``<profiles dir>/runtimes/<name>.txt``, a pip requirements file in hash-checking
form: one ``name==version`` per package with a ``--hash=sha256:...`` for every file pip may
take, the whole dependency closure (it is installed with ``--no-deps``). Nothing else is
allowed in it: no options, no URLs, no ranges, so the set a sandbox sees is exactly the file,
and its content address (the file's normalised lines, plus the interpreter) names one
directory that never changes once built (gateway.requirements.runtimes).

Loaded and validated at start with the profiles: a bad line names its file and line number.
"""

from __future__ import annotations

import hashlib
import re
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gateway.errors import ProfileError

#: The runtime profiles name when they name none: Open WebUI 0.12.4's own environment.
DEFAULT_RUNTIME = "openwebui-0.12.4"
#: The runner itself imports these in every sandbox (its wire format and the Valves schemas).
RUNNER_NEEDS = ("orjson", "pydantic")
#: Bumped when what a built runtime directory holds changes (layout, pip options).
LAYOUT_VERSION = 2  # 2: .pyc files name their sources at the runtime's own path
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class RuntimeSpec:
    """A validated runtime lock: its packages (``name==version``), their hashes, its address."""

    name: str
    path: Path
    #: ``name==version`` by normalised name, sorted.
    pins: Mapping[str, str]
    #: The lock's requirement lines, normalised (``name==version --hash=... ...``), sorted.
    lines: tuple[str, ...]
    digest: str

    def requirements_text(self) -> str:
        """The lock as pip reads it (``-r``), one requirement per line."""
        return "".join(f"{line}\n" for line in self.lines)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Requirement lines with their first line number: comments dropped, continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        if joined:
            lines.append((start, joined))
    if pending and (joined := " ".join(part for part in pending if part)):
        lines.append((start, joined))
    return lines


def digest(lines: tuple[str, ...]) -> str:
    """The content address of a runtime: its lines, the interpreter's ABI and the layout."""
    material = "\n".join(
        [
            f"layout={LAYOUT_VERSION}",
            # Wheels and .pyc files are only valid for the interpreter (and ABI) that made them.
            f"python={sys.implementation.cache_tag}",
            f"abi={sysconfig.get_config_var('SOABI')}",
            f"platform={sysconfig.get_platform()}",
            *lines,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def parse_lock(name: str, path: Path, text: str) -> RuntimeSpec:
    """Validate a lock's text; ProfileError names the file and line of the first problem."""
    pins: dict[str, str] = {}
    lines: list[str] = []
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        tokens = line.split()
        first_option = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
        spec, options = " ".join(tokens[:first_option]), tokens[first_option:]
        if not spec:
            raise ProfileError(f"{where}: runtime locks hold pinned packages only, not pip options ({tokens[0]!r})")
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            raise ProfileError(f"{where}: invalid requirement {spec!r}: {exc}") from None
        specifiers = list(requirement.specifier)
        if requirement.url or requirement.marker or len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ProfileError(f"{where}: {spec!r} must be exactly 'name==version' (a lock pins every package)")
        if not options or not all(_HASH.match(option) for option in options):
            raise ProfileError(f"{where}: {spec!r} needs its files' hashes, as --hash=sha256:<64 hex digits> each")
        package = canonicalize_name(requirement.name)
        if package in pins:
            raise ProfileError(f"{where}: {package!r} is pinned twice")
        version = specifiers[0].version
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins[package] = f"{package}=={version}"
        lines.append(" ".join([f"{package}{extras}=={version}", *sorted(set(options))]))
    if not pins:
        raise ProfileError(f"{path}: the runtime pins no packages")
    if missing := [n for n in RUNNER_NEEDS if n not in pins]:
        raise ProfileError(f"{path}: the runtime lacks {', '.join(missing)}, which the sandbox's runner imports")
    ordered = tuple(sorted(lines))
    return RuntimeSpec(name, path, dict(sorted(pins.items())), ordered, digest(ordered))


def load_runtime(path: Path) -> RuntimeSpec:
    """Load and validate one lock file (its name is the runtime's)."""
    name = path.stem
    if not _NAME.match(name):
        raise ProfileError(f"{path}: runtime names are lower-case letters, digits, '.', '-' and '_'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from None
    return parse_lock(name, path, text)


def load_runtimes(*directories: Path) -> dict[str, RuntimeSpec]:
    """Every ``*.txt`` in the ``directories`` that exist; a later directory's file overrides an earlier one's."""
    runtimes: dict[str, RuntimeSpec] = {}
    for directory in directories:
        if directory.is_dir():
            for path in sorted(directory.glob("*.txt")):
                runtimes[path.stem] = load_runtime(path)
    return runtimes
