"""What the gateway tells a worker about its confinement (the ``confine`` frame).

Everything here is decided in the gateway, once per profile where possible (the seccomp
program), and handed to the worker only after the gateway has placed it in its cgroup.
"""

from __future__ import annotations

import base64
import os
import sys
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gateway.egress.plan import sandbox_plan
from gateway.profiles import Profile
from gateway.sandbox.seccomp_policy import compile_bpf
from runner import boot

#: Host paths every worker needs besides the Python runtime: shared libraries, and the
#: loader's cache so that extension modules find them.
SYSTEM_PATHS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/etc/ld.so.cache")


@cache
def interpreter_binds() -> tuple[str, ...]:
    """The runner and the Python interpreter's own files (stdlib, lib-dynload), bound read-only."""
    # The base installation's paths, not a virtual environment's: a venv's "platstdlib" is
    # <venv>/lib/python3.X, which holds the gateway's own site-packages.
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    runner_dir = str(Path(boot.__file__).resolve().parent)
    binds = [runner_dir, paths["stdlib"], paths["platstdlib"]]
    # The interpreter's own installation: its shared library and lib-dynload live there.
    binds.append(str(Path(paths["stdlib"]).parent.parent))
    return tuple(dict.fromkeys(binds))


def _gateway_site() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


@dataclass(frozen=True)
class Imports:
    """What a worker imports from: its ``sys.path`` additions and the host paths bound for them.

    Plugins import from their profile's runtime only (a built, read-only directory), never
    from the gateway's own environment, which holds grpc, the gateway's pydantic and
    whatever else the gateway was installed with. A path is bound at its own location, so
    a zygote (which imports before it is confined) and its confined workers agree.
    """

    path: tuple[str, ...]
    binds: tuple[str, ...]

    @classmethod
    def runtime(cls, directory: Path) -> Imports:
        """A plugin sandbox of a profile whose runtime is built at ``directory``."""
        return cls((boot.runner_root(), str(directory)), (*interpreter_binds(), str(directory)))

    @classmethod
    def installer(cls, runtime: Path | None) -> Imports:
        """An installer sandbox: pip from the gateway's environment, nothing else of it.

        Only pip's package directory is bound (and, for a runtime build, orjson's, which the
        runner needs and no runtime provides yet), so pip sees no package of the gateway's as
        installed. With ``runtime``, a function's set is resolved against the runtime: it is on
        the path, and its packages are what pip finds installed.
        """
        site = _gateway_site()
        own = [str(site / "pip")]
        path = [boot.runner_root()]
        if runtime is not None:
            path.append(str(runtime))
            own.append(str(runtime))
        else:
            own.append(str(site / "orjson"))
        path.append(str(site))
        return cls(tuple(path), (*interpreter_binds(), *own))

    @classmethod
    def gateway(cls) -> Imports:
        """The gateway's own environment (the host probes, and tests of the sandbox itself)."""
        return cls(boot.runtime_path(), (*interpreter_binds(), *boot.runtime_path()[1:]))


@cache
def _bpf(policy: str, extra_denied: tuple[str, ...], network: bool) -> str:
    return base64.b64encode(compile_bpf(policy, network=network, extra_denied=extra_denied)).decode()


@dataclass(frozen=True)
class SiteBind:
    """A requirement set's directory, bound at ``/airlock/site`` in one sandbox.

    Read-only (and executable: wheels hold extension modules) in the function's workers;
    writable (and noexec) only in the installer sandbox that fills it.
    """

    source: Path
    writable: bool = False


def write_id_maps(pid: int, uid: int, gid: int) -> None:
    """Map uid/gid 0 of worker ``pid``'s new user namespace to ``uid``/``gid`` outside.

    setgroups is denied first: the kernel requires it before an unprivileged gid map, and
    it stops the sandbox from ever adding groups back.
    """
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1\n")
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1\n")


def confine_frame(  # noqa: PLR0917 - the worker's one call site passes them in order
    profile: Profile,
    uid: int,
    cgroup_procs: list[str],
    site: SiteBind | None = None,
    egress_dir: Path | None = None,
    imports: Imports | None = None,
) -> dict[str, Any]:
    """The ``confine`` frame for one worker of ``profile`` running as ``uid``.

    ``site`` is a requirement set to bind; ``egress_dir`` holds the profile's egress relay
    socket (network = "egress" only); ``imports`` what the worker imports from (default: the
    gateway's environment, for the gateway's own probes and tests).

    Only a root gateway can map another uid; an unprivileged gateway's sandboxes run as its
    own uid outside (still uid 0 without capabilities inside, in their own namespaces).
    """
    if profile.network == "egress" and egress_dir is None:
        raise ValueError(f"profile {profile.name!r} has network = 'egress' but the gateway runs no relay for it")
    if os.geteuid() != 0:
        uid = os.geteuid()
    frame: dict[str, Any] = {
        "op": "confine",
        "gateway_pid": os.getpid(),
        "cgroup_procs": cgroup_procs,
        "uid": uid,
        "gid": uid if os.geteuid() == 0 else os.getegid(),
        "namespaces": list(profile.namespaces),
        "hostname": profile.hostname,
        "binds": [*(imports or Imports.gateway()).binds, *SYSTEM_PATHS, *profile.readonly_paths],
        "tmp_size_mib": profile.tmp_size_mib,
        "tmp_inodes": profile.tmp_inodes,
        "landlock": profile.landlock,
        "limits": {
            "address_space_mib": profile.address_space_mib,
            "open_files": profile.open_files,
            "file_size_mib": profile.file_size_mib,
            "cpu_seconds": profile.cpu_seconds,
        },
        "seccomp_bpf": _bpf(profile.seccomp, profile.seccomp_extra_denied, profile.network != "none"),
        "egress": sandbox_plan(profile, egress_dir) if profile.network == "egress" and egress_dir else None,
    }
    if site is not None:
        frame["site"] = {"source": str(site.source), "writable": site.writable}
    return frame
