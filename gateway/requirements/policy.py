"""The operator's rules for installing requirements, and the installer sandbox's profile.

Everything here comes from GatewayConfig (``requirements_*`` settings). The allow- and
deny-lists hold PEP 503 normalised project names and apply to every package pip resolved,
dependencies included, not only to the names a plugin wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.errors import FailedPrecondition, PackageRefused
from gateway.profiles import Profile

#: Not a valid profile file name, so the installer never shares an operator profile's
#: capacity limiter or metrics label.
INSTALLER_PROFILE = "@installer"


@dataclass(frozen=True)
class InstallPolicy:
    """Whether, from where and what may be installed, and the installer's limits."""

    enabled: bool = False
    wheelhouse: Path | None = None
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    timeout_seconds: float = 300.0
    memory_mib: int = 1024
    disk_mib: int = 1024

    @classmethod
    def from_config(cls, config: GatewayConfig) -> InstallPolicy:
        """The policy ``config`` describes (validated there)."""
        return cls(
            enabled=config.requirements_install,
            wheelhouse=config.requirements_wheelhouse,
            allow=frozenset(config.requirements_allow),
            deny=frozenset(config.requirements_deny),
            timeout_seconds=config.requirements_timeout_seconds,
            memory_mib=config.requirements_memory_mib,
            disk_mib=config.requirements_disk_mib,
        )

    def check(self, names: Iterable[str], *, dependencies: bool = False) -> None:
        """PackageRefused naming the first refused package and the setting that refuses it."""
        how = "pulled in as a dependency" if dependencies else "required by the function"
        for name in sorted(names):
            if name in self.deny:
                raise PackageRefused(f"package {name!r} ({how}) is denied by requirements_deny")
            if self.allow and name not in self.allow:
                raise PackageRefused(f"package {name!r} ({how}) is not in requirements_allow")

    def source(self) -> dict[str, str]:
        """Where packages come from, as it enters the content address."""
        return {"wheelhouse": str(self.wheelhouse)}

    def pip_options(self) -> list[str]:
        """Pip's source options: the wheelhouse only, never an index.

        Index mode (``requirements_index_url``) is refused by the settings until sandboxes
        can have network egress; it would pass ``--index-url`` here and give the installer
        profile ``network = "egress"`` with the index host as its only destination.
        """
        if self.wheelhouse is None:
            raise FailedPrecondition("requirements_wheelhouse is not set: there is nowhere to install from")
        return ["--no-index", "--find-links", str(self.wheelhouse)]

    def installer_profile(self, base: Profile) -> Profile:
        """The installer sandbox's profile: ``base``'s isolation with the installer's limits.

        A fresh interpreter (pip never shares a zygote with plugins), no network, the
        wheelhouse visible read-only, room for pip to unpack wheels in its private /tmp
        (tmpfs, so it counts against memory too), and files as large as a wheel's
        extension modules.
        """
        seconds = self.timeout_seconds
        return Profile.model_validate(
            {
                **base.model_dump(),
                "name": INSTALLER_PROFILE,
                "description": "plugin requirements installer (built from settings)",
                "mode": "fresh",
                "warm_pool_size": 0,
                "wall_seconds": seconds,
                "session_seconds": seconds,
                "cpu_seconds": max(1, int(seconds)),
                "memory_mib": self.memory_mib + self.disk_mib,
                "tmp_size_mib": self.disk_mib,
                "tmp_inodes": 1_000_000,
                "file_size_mib": self.disk_mib,
                "open_files": 1024,
                "stdio_bytes": 64 * 1024 * 1024,
                "output_keep_bytes": 64 * 1024,
                "network": "none",
                "readonly_paths": (*base.readonly_paths, *([str(self.wheelhouse)] if self.wheelhouse else [])),
                "start_timeout_seconds": max(base.start_timeout_seconds, 30.0),
                "max_concurrent": 2,
            }
        )
