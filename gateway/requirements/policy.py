"""The operator's rules for installing requirements, and the installer sandboxes' profiles.

Everything here comes from GatewayConfig (``requirements_*`` and ``runtime_build_*``
settings) and the package source (gateway.requirements.source). The allow- and deny-lists
hold PEP 503 normalised project names and apply to every package pip resolved, dependencies
included, not only to the names a plugin wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.errors import PackageRefused
from gateway.profiles import Profile
from gateway.requirements.source import PackageSource

#: Not a valid profile file name, so the installer never shares an operator profile's
#: capacity limiter or metrics label.
INSTALLER_PROFILE = "@installer"
#: The profile runtime builds run under (bigger, one at a time).
BUILDER_PROFILE = "@runtime-builder"


@dataclass(frozen=True)
class InstallPolicy:
    """Whether, from where and what may be installed, and the installer's limits."""

    enabled: bool = True
    source: PackageSource = field(default_factory=PackageSource)
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    timeout_seconds: float = 300.0
    memory_mib: int = 1024
    disk_mib: int = 1024
    #: The shared wheel cache (gateway.requirements.wheelcache), shown to installers read-only.
    cache_dir: Path | None = None
    build_timeout_seconds: float = 1800.0
    build_disk_mib: int = 2048

    @classmethod
    def from_config(cls, config: GatewayConfig) -> InstallPolicy:
        """The policy ``config`` describes (validated there)."""
        if config.requirements_wheelhouse is not None:
            source = PackageSource.wheelhouse(config.requirements_wheelhouse)
        elif config.requirements_index_url:
            source = PackageSource.index(config.requirements_index_url, PackageSource.from_pip_configuration().cert)
        else:
            source = PackageSource.from_pip_configuration()
        return cls(
            enabled=config.requirements_install,
            source=source,
            allow=frozenset(config.requirements_allow),
            deny=frozenset(config.requirements_deny),
            timeout_seconds=config.requirements_timeout_seconds,
            memory_mib=config.requirements_memory_mib,
            disk_mib=config.requirements_disk_mib,
            cache_dir=config.wheel_cache_root,
            build_timeout_seconds=config.runtime_build_timeout_seconds,
            build_disk_mib=config.runtime_build_disk_mib,
        )

    def check(self, names: Iterable[str], *, dependencies: bool = False) -> None:
        """PackageRefused naming the first refused package and the setting that refuses it."""
        how = "pulled in as a dependency" if dependencies else "required by the function"
        for name in sorted(names):
            if name in self.deny:
                raise PackageRefused(f"package {name!r} ({how}) is denied by requirements_deny")
            if self.allow and name not in self.allow:
                raise PackageRefused(f"package {name!r} ({how}) is not in requirements_allow")

    def job(self, kind: str, **fields: object) -> dict[str, object]:
        """An installer job: ``kind`` "runtime" (``lock``) or "set" (``specs``), with the source and cache."""
        return {
            "op": "install",
            "kind": kind,
            "specs": [],
            # The installer runs pip with --isolated: these are all the source options it uses.
            "source_options": self.source.pip_options(),
            "cache": str(self.cache_dir) if self.cache_dir else "",
            **fields,
        }

    def installer_profile(self, base: Profile, *, runtime_build: bool = False) -> Profile:
        """An installer sandbox's profile: ``base``'s isolation with the installer's limits.

        A fresh interpreter (pip never shares a zygote with plugins); network to the package
        source's hosts only, through the gateway's egress relay (none for a local source);
        local sources visible read-only; room for pip to download and unpack in its private
        /tmp (tmpfs, so it counts against memory too), and files as large as a wheel's
        extension modules. A runtime build (``runtime_build``) is the same with its own,
        larger time and disk, one at a time.
        """
        seconds = self.build_timeout_seconds if runtime_build else self.timeout_seconds
        disk = self.build_disk_mib if runtime_build else self.disk_mib
        egress = self.source.egress_allow()
        network: dict[str, object] = {"network": "none"}
        if egress:
            network = {
                "network": "egress",
                "egress_allow": egress,
                "egress_allow_private": self.source.private_networks(),
                "egress_max_connections": 16,
            }
        return Profile.model_validate(
            {
                **base.model_dump(),
                "name": BUILDER_PROFILE if runtime_build else INSTALLER_PROFILE,
                "description": "plugin runtime builder" if runtime_build else "plugin requirements installer",
                "mode": "fresh",
                "warm_pool_size": 0,
                "wall_seconds": seconds,
                "session_seconds": seconds,
                "cpu_seconds": max(1, int(seconds)),
                "memory_mib": self.memory_mib + disk,
                "tmp_size_mib": disk,
                "tmp_inodes": 1_000_000,
                "file_size_mib": disk,
                "open_files": 1024,
                "pids": max(base.pids, 64),
                "stdio_bytes": 64 * 1024 * 1024,
                "output_keep_bytes": 64 * 1024,
                **network,
                "readonly_paths": (
                    *base.readonly_paths,
                    *self.source.readonly_paths(),
                    *((str(self.cache_dir),) if self.cache_dir else ()),
                ),
                "start_timeout_seconds": max(base.start_timeout_seconds, 30.0),
                "max_concurrent": 1 if runtime_build else 2,
            }
        )
