"""Load and validate the profile directory at start (fail fast, name the file and field)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from gateway.errors import ProfileError
from gateway.profiles.model import Profile
from gateway.profiles.runtimes import RuntimeSpec, load_runtimes

#: The subdirectory of a profile directory that holds runtime locks.
RUNTIMES_SUBDIR = "runtimes"

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DEFAULT_PROFILE = "default"


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def _describe(path: Path, text: str, exc: ValidationError) -> str:
    """One line per problem, ``file:line: field: message`` (the line where the field is set)."""
    problems = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        line = _line_of(text, str(err["loc"][0])) if err["loc"] else None
        where = f"{path}:{line}" if line else str(path)
        problems.append(f"{where}: {field or '<file>'}: {err['msg']}")
    return "\n".join(problems)


def load_profile(path: Path) -> Profile:
    """Parse and validate one profile file; ProfileError says which file and field."""
    name = path.stem
    if not _NAME.match(name):
        raise ProfileError(f"{path}: profile names are lower-case letters, digits, '-' and '_'")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from None
    if "name" in data:
        raise ProfileError(f"{path}:{_line_of(text, 'name')}: name: the profile name is the file name; remove it")
    try:
        return Profile.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise ProfileError(_describe(path, text, exc)) from None


@dataclass(frozen=True)
class ProfileSet(Mapping[str, Profile]):
    """The validated profiles a gateway runs with, by name (refused ones kept apart)."""

    profiles: Mapping[str, Profile]
    directory: Path
    #: Profiles this host cannot run as they promise, with the reasons.
    refused: Mapping[str, list[str]] = field(default_factory=dict)
    #: The runtimes the profiles may name, by name.
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Profile:
        return self.profiles[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    def resolve(self, name: str) -> Profile:
        """The profile called ``name`` ("" means default), or ProfileError naming the choices."""
        name = name or DEFAULT_PROFILE
        if name in self.refused:
            raise ProfileError(f"profile {name!r} cannot run on this host: {'; '.join(self.refused[name])}")
        profile = self.profiles.get(name)
        if profile is None:
            raise ProfileError(f"unknown profile {name!r}; available: {', '.join(sorted(self.profiles))}")
        return profile

    def without(self, refused: Mapping[str, list[str]]) -> ProfileSet:
        """The same set with the ``refused`` profiles set apart."""
        kept = {name: p for name, p in self.profiles.items() if name not in refused}
        return ProfileSet(kept, self.directory, {**self.refused, **refused}, dict(self.runtimes))

    def refuse(self, refused: Mapping[str, list[str]]) -> None:
        """Take ``refused`` out of service after load (their runtime failed to build at start).

        In place: the registry and the servicers hold this very set.
        """
        profiles, refusals = self.profiles, self.refused
        assert isinstance(profiles, dict)
        assert isinstance(refusals, dict)
        for name, reasons in refused.items():
            profiles.pop(name, None)
            refusals[name] = reasons

    def runtime(self, profile: Profile) -> RuntimeSpec:
        """The runtime ``profile`` names (validated to exist at load)."""
        return self.runtimes[profile.runtime]

    def needed_runtimes(self) -> list[RuntimeSpec]:
        """The runtimes the (not refused) profiles name, each once."""
        return [self.runtimes[name] for name in sorted({p.runtime for p in self.profiles.values()})]


def load_profiles(directory: Path) -> ProfileSet:
    """Load every ``*.toml`` in ``directory``; there must be a ``default`` profile."""
    if not directory.is_dir():
        raise ProfileError(f"{directory}: not a directory of profiles")
    profiles = {path.stem: load_profile(path) for path in sorted(directory.glob("*.toml"))}
    if DEFAULT_PROFILE not in profiles:
        raise ProfileError(f"{directory}: no {DEFAULT_PROFILE}.toml (every gateway needs a default profile)")
    # The shipped runtimes are always there; the operator's, beside their profiles, add to
    # them (or replace one of the same name).
    runtimes = load_runtimes(shipped_profiles_dir() / RUNTIMES_SUBDIR, directory / RUNTIMES_SUBDIR)
    for name, profile in profiles.items():
        if profile.runtime not in runtimes:
            path = directory / f"{name}.toml"
            line = _line_of(path.read_text(encoding="utf-8"), "runtime")
            raise ProfileError(
                f"{path}{f':{line}' if line else ''}: runtime: no runtime {profile.runtime!r} "
                f"(available: {', '.join(sorted(runtimes)) or 'none'}; a runtime is runtimes/<name>.txt)"
            )
    return ProfileSet(profiles, directory, runtimes=runtimes)


def shipped_profiles_dir() -> Path:
    """The profiles that ship with Airlock: inside the wheel, or at the checkout's root."""
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "_shipped_profiles"
    return installed if installed.is_dir() else package_dir.parent / "sandbox_profiles"
