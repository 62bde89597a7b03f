"""What this host offers the sandbox, and which profiles it can therefore run.

Probed once at start (and by ``airlock doctor``). A profile whose required layers are
missing is refused with the reason, never run with less isolation than it promises.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from gateway.profiles import Profile
from gateway.sandbox.cgroups import CgroupError, Cgroups
from runner import boot
from runner.confine import syscalls

_USERNS_PROBE = (
    "import ctypes,sys;libc=ctypes.CDLL(None,use_errno=True);"
    f"r=libc.unshare({syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNET});"
    "sys.exit(0 if r==0 else ctypes.get_errno())"
)


@dataclass(frozen=True)
class HostSupport:
    """The isolation layers of this host; a missing one carries the reason."""

    user_namespaces: str | None
    landlock_abi: int
    seccomp: str | None
    cgroups: str | None
    cgroup_layout: str
    #: What stops network = "egress" sandboxes (a loopback of their own), None if nothing.
    egress: str | None = None

    def lines(self) -> list[str]:
        """A human report, one layer per line."""

        def state(problem: str | None, detail: str = "available") -> str:
            return f"missing ({problem})" if problem else detail

        lines = [
            f"user namespaces: {state(self.user_namespaces)}",
            f"landlock:        {f'ABI {self.landlock_abi}' if self.landlock_abi else 'missing'}",
            f"seccomp:         {state(self.seccomp)}",
            f"cgroups:         {state(self.cgroups, self.cgroup_layout)}",
            f"network egress:  {state(self.egress)}",
        ]
        return lines + [f"degraded:        {weaker}" for weaker in self.degraded()]

    def degraded(self) -> list[str]:
        """Layers this host offers in part, each with what stands in for the missing part.

        docs/SECURITY.md, "Hosts without a layer": a profile that requires a missing layer is
        refused (see :func:`refusals`); what only weakens one is said here, by doctor and in
        the gateway's start-up log, never left silent.
        """
        abi = self.landlock_abi
        if abi == 0:
            return [
                'no Landlock: profiles with landlock = "required" (every shipped one) are refused; '
                '"best-effort" ones run without its filesystem and network lock (mounts, namespaces '
                "and seccomp remain)"
            ]
        weaker = []
        if abi < 4:
            weaker.append(
                f"Landlock ABI {abi} < 4 has no TCP rules: the sandbox's network namespace alone confines "
                "TCP (an egress sandbox reaches its own loopback listeners only)"
            )
        if abi < 6:
            weaker.append(
                f"Landlock ABI {abi} < 6 does not scope abstract unix sockets and signals: the sandbox's "
                "network and pid namespaces alone keep them inside"
            )
        return weaker


def _user_namespaces() -> str | None:
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _USERNS_PROBE], timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else f"unshare failed with errno {done.returncode}"


def _egress() -> str | None:
    try:
        done = subprocess.run(
            boot.command({"path": boot.runtime_path()}, entry="egress_probe"),
            timeout=10,
            check=False,
            capture_output=True,
            env={},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    said = done.stderr.decode(errors="replace").strip().splitlines()
    return said[-1] if said else f"the probe failed with status {done.returncode}"


def _seccomp() -> str | None:
    try:
        from gateway.sandbox.seccomp_policy import compile_bpf  # noqa: PLC0415 - loads libseccomp

        compile_bpf("deny-list", network=False)
    except (OSError, RuntimeError, ImportError) as exc:
        return f"libseccomp unusable: {exc}"
    with open("/proc/self/status") as f:
        if not any(line.startswith("Seccomp:") for line in f):
            return "the kernel has no seccomp"
    return None


def probe() -> HostSupport:
    """Probe every layer."""
    try:
        layout = Cgroups.detect()
        cgroups, described = None, layout.describe()
    except (CgroupError, OSError) as exc:
        cgroups, described = str(exc), ""
    return HostSupport(_user_namespaces(), syscalls.landlock_abi(), _seccomp(), cgroups, described, _egress())


def refusals(profile: Profile, host: HostSupport) -> list[str]:
    """Why ``host`` cannot run ``profile`` as it promises (empty: it can)."""
    reasons = []
    if host.user_namespaces:
        reasons.append(f"user namespaces are unavailable: {host.user_namespaces}")
    if host.seccomp:
        reasons.append(f"seccomp is unavailable: {host.seccomp}")
    if host.cgroups:
        reasons.append(f"cgroups are unusable: {host.cgroups}")
    if profile.landlock == "required" and not host.landlock_abi:
        reasons.append("Landlock is required by the profile and the kernel has none")
    if profile.network == "egress" and host.egress:
        reasons.append(f"network egress is unavailable: {host.egress}")
    return reasons
