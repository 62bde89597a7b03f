"""Built runtimes: one read-only directory per lock, ``<runtimes dir>/<digest>``, built once.

A runtime is built by the installer sandbox (a ``runtime`` job: the lock with ``--no-deps
--require-hashes``, so every file pip takes must match a hash in the lock) into a ``.tmp-``
staging directory, then renamed to its digest: a directory named by a digest is complete.
Gateways on one host may share the directory (``runtimes_dir``): a lock file per digest
makes the second one wait for the first one's build instead of doing it again.

The gateway never reads what the installer wrote, as for requirement sets
(gateway.requirements.sites): it renames the directory, binds it read-only and, when asked
to, removes it without following symlinks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import orjson
import structlog

from airlock.domain.progress import Progress, Stage
from gateway.errors import WorkerFailed
from gateway.profiles import Profile
from gateway.profiles.runtimes import RuntimeSpec
from gateway.requirements import installer
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.progress import Reporter
from gateway.requirements.wheelcache import WheelCache
from gateway.sandbox.confinement import Imports
from gateway.sandbox.launcher import Launcher

log = structlog.get_logger("airlock.runtimes")

_TMP_PREFIX = ".tmp-"
#: Where builds stage, inside the runtimes directory: private to the gateway's user (0700), so
#: that a staging directory the installer must be able to write (0777) is reachable by no
#: other user of the host, even when the runtimes directory itself is world-readable.
_STAGING = ".staging"
#: How often a gateway waiting for another one's build looks again.
_LOCK_POLL_SECONDS = 0.5


class Runtimes:
    """Builds and finds runtimes under ``root``."""

    def __init__(
        self, root: Path, policy: InstallPolicy, launcher: Launcher | None, base_profile: Profile, cache: WheelCache
    ) -> None:
        """``launcher`` None: only :meth:`build_unconfined` can build (an image build)."""
        self.root = root
        self.cache = cache
        self.policy = policy
        self._launcher = launcher
        self._profile = policy.installer_profile(base_profile, runtime_build=True)

    def path(self, spec: RuntimeSpec) -> Path:
        """Where ``spec`` lives once built."""
        return self.root / spec.digest

    def ready(self, spec: RuntimeSpec) -> bool:
        """Whether ``spec`` is built (only complete builds are ever renamed to their digest)."""
        return self.path(spec).is_dir()

    async def ensure(self, spec: RuntimeSpec, report: Reporter) -> Path:
        """Build ``spec`` unless it is built (waiting for another gateway building it); its directory."""
        if self.ready(spec):
            return self.path(spec)
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        lock = os.open(self.root / f".{spec.digest}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            await self._lock(lock, spec, report)
            if not self.ready(spec):
                await self._build(spec, report)
        finally:
            os.close(lock)  # releases the flock
        return self.path(spec)

    @staticmethod
    async def _lock(fd: int, spec: RuntimeSpec, report: Reporter) -> None:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not told:
                    told = True
                    await report(Progress(Stage.CHECKING, f"runtime {spec.name!r} is being built by another gateway"))
                await anyio.sleep(_LOCK_POLL_SECONDS)

    async def _build(self, spec: RuntimeSpec, report: Reporter) -> None:
        if self._launcher is None:
            raise WorkerFailed(f"runtime {spec.name!r} is not built, and this gateway cannot make sandboxes")
        staging = self._new_staging(spec)
        # The installer's uid differs from the gateway's under a root gateway; nothing but
        # the installer's bind reaches this directory while it is 0777 (it is in _STAGING).
        os.chmod(staging, 0o777)  # noqa: S103
        began = time.monotonic()
        try:
            await report(
                Progress(
                    Stage.INSTALLING,
                    f"runtime {spec.name!r}: {len(spec.pins)} packages from {self.policy.source.describe()}",
                )
            )
            packages = await installer.install(
                self._launcher,
                self._profile,
                # compile_as: tracebacks name the files where the sandboxes will see them.
                self.policy.job("runtime", lock=spec.requirements_text(), compile_as=str(self.path(spec))),
                staging=staging,
                report=report,
                imports=Imports.installer(None),
                what=f"runtime {spec.name!r}",
                cache=self.cache,
                setting="runtime_build_timeout_seconds",
            )
            installed = sorted(f"{p.name}=={p.version}" for p in packages)
            manifest = {
                "name": spec.name,
                "lock": str(spec.path),
                "installed": installed,
                "seconds": round(time.monotonic() - began, 1),
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._publish(spec, staging, manifest)
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(staging)
            raise
        await report(Progress(Stage.INSTALLED, f"runtime {spec.name!r}: {len(installed)} packages"))
        log.info(
            "runtime_built",
            runtime=spec.name,
            digest=spec.digest[:16],
            packages=len(installed),
            seconds=manifest["seconds"],
        )

    def build_unconfined(self, spec: RuntimeSpec, python: str) -> Path:
        """Build ``spec`` with pip run directly by ``python``, no sandbox (``airlock runtimes build --unconfined``).

        For image builds, where no sandbox can be made (``docker build`` gives no user
        namespaces). What makes it acceptable there: the lock pins every file by hash and
        installs wheels only, without dependencies, so pip takes exactly the files the lock
        names and runs none of their code (installing a wheel unpacks it; compiling parses).
        The result is the same directory the confined build makes, published the same way.
        """
        if self.ready(spec):
            return self.path(spec)
        staging = self._new_staging(spec)
        lock = staging.with_name(f"{staging.name}.txt")
        try:
            lock.write_text(spec.requirements_text())
            command = [python, "-m", "pip", "install", "--target", str(staging), "--no-deps", "--require-hashes"]
            command += ["--only-binary=:all:", "--no-compile", "--disable-pip-version-check", "--no-input"]
            subprocess.run([*command, *self.policy.source.pip_options(), "-r", str(lock)], check=True)
            # -d: tracebacks name the files where the sandboxes will see them.
            compile_as = str(self.path(spec))
            subprocess.run([python, "-m", "compileall", "-q", "-d", compile_as, str(staging)], check=False)
            installed = sorted(spec.pins.values())
            manifest = {"name": spec.name, "lock": str(spec.path), "installed": installed, "unconfined": True}
            self._publish(spec, staging, manifest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            lock.unlink(missing_ok=True)
        # Nothing of the build is left beside the runtime: an image's root is read-only at run
        # time, and a gateway that finds a staging directory at start chmods it and collects
        # leftovers from it (collect_staging), which fails there with EROFS.
        with contextlib.suppress(OSError):
            staging.parent.rmdir()
        return self.path(spec)

    def _publish(self, spec: RuntimeSpec, staging: Path, manifest: dict[str, object]) -> None:
        """Make a complete build ``spec``'s directory: the manifest beside it first, the rename last."""
        temporary = self.root / f"{_TMP_PREFIX}{spec.digest}.json"
        temporary.write_bytes(orjson.dumps(manifest))
        os.replace(temporary, self.root / f"{spec.digest}.json")
        os.chmod(staging, 0o755)  # noqa: S103 - readable by every sandbox uid, writable by none
        os.rename(staging, self.path(spec))

    def _new_staging(self, spec: RuntimeSpec) -> Path:
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        private = self.root / _STAGING
        private.mkdir(mode=0o700, exist_ok=True)
        os.chmod(private, 0o700)  # whatever made it before
        staging = private / f"{_TMP_PREFIX}{spec.digest}-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        return staging

    def collect_staging(self) -> list[str]:
        """Remove leftovers of builds that did not finish (a crashed gateway's)."""
        removed: list[str] = []
        private = self.root / _STAGING
        if not private.is_dir() or private.stat().st_uid != os.geteuid():
            # Another user's gateways build there (a shared directory this gateway only
            # reads its built runtimes from): their leftovers are theirs to collect.
            return removed
        os.chmod(private, 0o700)  # whoever made it, only this gateway's user may reach inside
        for entry in private.iterdir():
            if entry.name.startswith(_TMP_PREFIX):
                # Another gateway sharing the directory may be building into one right now:
                # only those whose digest lock nobody holds are leftovers.
                digest = entry.name[len(_TMP_PREFIX) :].split("-", 1)[0].removesuffix(".txt")
                if self._unlocked(digest):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed.append(entry.name)
        return removed

    def _unlocked(self, digest: str) -> bool:
        try:
            fd = os.open(self.root / f".{digest}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
