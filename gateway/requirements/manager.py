"""A function's requirements, from its frontmatter to a ready, shared, read-only directory.

Order for one registration: parse the frontmatter value (InvalidRequest naming the entry),
check the names asked for against the operator's lists (PackageRefused), compute the
content address, then, holding that address's lock, either reuse the installed set
(checked again against the lists as they are now) or install it in the installer sandbox,
check every package pip resolved, and publish it. Nothing here stores a function: the
registry does, once the source has also loaded with the set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson
from packaging.utils import canonicalize_name

from airlock.domain.progress import Progress, Stage
from gateway.errors import FailedPrecondition
from gateway.profiles import Profile, ProfileSet
from gateway.requirements import installer, sites, specs
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.progress import Reporter
from gateway.requirements.runtimes import Runtimes
from gateway.sandbox.confinement import Imports, SiteBind
from gateway.sandbox.launcher import Launcher
from runner.loader import extract_frontmatter

#: Requirement states of a function record.
READY, SKIPPED, FAILED = "ready", "skipped", "failed"


@dataclass(frozen=True)
class Prepared:
    """A function's requirements after preparation: what a record stores about them."""

    specs: tuple[str, ...] = ()
    digest: str = ""
    #: "" (none), READY or SKIPPED.
    state: str = ""
    #: ``name==version`` of every package in the set, dependencies included.
    installed: tuple[str, ...] = ()


class Requirements:
    """Installs requirement sets under ``<data dir>/requirements`` following ``policy``."""

    def __init__(
        self, root: Path, policy: InstallPolicy, launcher: Launcher, profiles: ProfileSet, runtimes: Runtimes
    ) -> None:
        self.sites = sites.Sites(root)
        self.policy = policy
        self._launcher = launcher
        self._profiles = profiles
        self._runtimes = runtimes
        self._profile = policy.installer_profile(profiles.resolve(""))

    def site(self, digest: str) -> SiteBind | None:
        """The read-only bind of an installed set (None for a function without one)."""
        return SiteBind(self.sites.path(digest)) if digest else None

    async def prepare(self, source: str, profile: Profile, report: Reporter) -> Prepared:
        """Make ``source``'s requirements ready over ``profile``'s runtime (or skip them: installs off)."""
        value = extract_frontmatter(source).get("requirements", "")
        if not value.strip():
            return Prepared()
        if not self.policy.enabled:
            # Upstream with ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS off: nothing is
            # parsed or installed, and the function loads (or fails to import) as it is.
            entries = tuple(specs.split_entries(value))
            await report(Progress(Stage.SKIPPED, "requirements_install is off"))
            return Prepared(specs=entries, state=SKIPPED)
        wanted = specs.parse(value)
        self.policy.check(wanted.names)
        runtime = self._profiles.runtime(profile)
        if not self._runtimes.ready(runtime):
            raise FailedPrecondition(f"runtime {runtime.name!r} of profile {profile.name!r} is not built")
        # The set is layered over the runtime: the same specs over another runtime are another set.
        digest = sites.digest(wanted.specs, {**self.policy.source.address(), "runtime": runtime.digest})
        await report(Progress(Stage.CHECKING, f"{len(wanted.specs)} requirements, set {digest[:16]}"))
        async with self.sites.lock(digest):
            installed = self._manifest(digest)
            if installed is not None:
                self.policy.check(_names(installed), dependencies=True)
                await report(Progress(Stage.REUSED, ", ".join(installed)))
                return Prepared(wanted.specs, digest, READY, installed)
            installed = await self._install(wanted.specs, digest, self._runtimes.path(runtime), report)
        await report(Progress(Stage.INSTALLED, ", ".join(installed)))
        return Prepared(wanted.specs, digest, READY, installed)

    async def _install(self, wanted: tuple[str, ...], digest: str, runtime: Path, report: Reporter) -> tuple[str, ...]:
        staging = self.sites.new_staging(digest)
        await report(Progress(Stage.INSTALLING, " ".join(wanted)))
        try:
            packages = await installer.install(
                self._launcher,
                self._profile,
                self.policy.job("set", specs=list(wanted)),
                staging=staging,
                report=report,
                imports=Imports.installer(runtime),
                what="requirements",
                cache=self._runtimes.cache,
            )
            installed = tuple(sorted(f"{p.name}=={p.version}" for p in packages))
            await report(Progress(Stage.VERIFYING, f"{len(installed)} packages"))
            self.policy.check(_names(installed), dependencies=True)
            self._write_manifest(digest, installed)
            self.sites.publish(staging, digest)
        except BaseException:
            self.sites.discard(staging)
            raise
        return installed

    def _manifest_path(self, digest: str) -> Path:
        return self.sites.root / f"{digest}.json"

    def _manifest(self, digest: str) -> tuple[str, ...] | None:
        """The packages of an installed set, None when it is not (completely) installed."""
        if not self.sites.ready(digest):
            return None
        try:
            data = orjson.loads(self._manifest_path(digest).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return tuple(str(item) for item in data["installed"])

    def _write_manifest(self, digest: str, installed: tuple[str, ...]) -> None:
        # The gateway's own record of what the set holds, beside (not inside) the directory
        # the installer wrote; written before the rename that makes the set ready.
        path = self._manifest_path(digest)
        temporary = path.with_name(f".tmp-{path.name}")
        temporary.write_bytes(orjson.dumps({"installed": list(installed)}))
        os.replace(temporary, path)

    def collect(self, referenced: set[str]) -> list[str]:
        """Remove sets (and manifests) no function references; what was removed."""
        return self.sites.collect({*referenced, *(f"{d}.json" for d in referenced)})


def _names(installed: tuple[str, ...]) -> set[str]:
    return {canonicalize_name(item.partition("==")[0]) for item in installed}
