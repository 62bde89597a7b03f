"""A function's frontmatter ``requirements``, parsed into normalised PEP 508 specs.

Open WebUI 0.12.4 (``utils/plugin.py::install_frontmatter_requirements``) splits the value on
commas, strips each entry, drops empty ones and hands the rest to ``pip install`` as
arguments. Airlock parses each entry with ``packaging`` first, because whatever reaches pip
must be a requirement and nothing else:

* an entry starting with ``-`` would be a pip option (``--index-url``, ``-e``, ``-r``):
  refused, the set may only name packages;
* URLs, paths and VCS references (``name @ https://...``, ``./pkg``, ``git+...``) would
  fetch and build code from anywhere: refused, packages come from the operator's source;
* environment markers (``; python_version < "3.12"``) are kept and evaluated by pip in the
  installer sandbox, which runs the workers' interpreter, so they mean what they would
  mean in the sandbox;
* a fragment that starts with a comparison operator continues the previous entry, so
  ``requests>=2,<3`` is one requirement (upstream passes ``<3`` to pip, which fails).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gateway.errors import InvalidRequest

#: More than this many entries is not a plugin's requirement list.
MAX_ENTRIES = 64
MAX_ENTRY_CHARS = 256
_CONTINUATION = re.compile(r"^(<|>|==|!=|~=|===)")


@dataclass(frozen=True)
class RequirementSet:
    """Normalised requirement specs (sorted, unique) and the project names they install."""

    specs: tuple[str, ...]
    names: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.specs)


def split_entries(value: str) -> list[str]:
    """The comma-separated entries of a frontmatter value, as written (stripped, non-empty)."""
    entries: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if entries and _CONTINUATION.match(part):
            entries[-1] = f"{entries[-1]},{part}"
        else:
            entries.append(part)
    return entries


def _parse_entry(entry: str) -> Requirement:
    if len(entry) > MAX_ENTRY_CHARS:
        raise InvalidRequest(f"requirement {entry[:40]!r}... is longer than {MAX_ENTRY_CHARS} characters")
    if entry.startswith("-"):
        raise InvalidRequest(f"requirement {entry!r} is a pip option: requirements may only name packages")
    try:
        requirement = Requirement(entry)
    except InvalidRequirement as exc:
        raise InvalidRequest(f"invalid requirement {entry!r}: {exc}") from None
    if requirement.url:
        raise InvalidRequest(
            f"requirement {entry!r} names a URL, path or VCS reference: requirements may only name "
            "packages, which come from the operator's wheelhouse"
        )
    # PEP 503 names and PEP 685 extras: spellings of one set give one content address.
    requirement.name = canonicalize_name(requirement.name)
    requirement.extras = {canonicalize_name(extra) for extra in requirement.extras}
    return requirement


def parse(value: str) -> RequirementSet:
    """Parse a frontmatter ``requirements`` value; InvalidRequest names the offending entry."""
    entries = split_entries(value)
    if len(entries) > MAX_ENTRIES:
        raise InvalidRequest(f"requirements has {len(entries)} entries; at most {MAX_ENTRIES}")
    requirements = [_parse_entry(entry) for entry in entries]
    return RequirementSet(
        specs=tuple(sorted({str(r) for r in requirements})),
        names=frozenset(r.name for r in requirements),
    )
