"""The profile model: every knob has a default and a unit in its name (nsjail's habit)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.profiles.allowlist import EntryError, parse_entries, parse_network
from gateway.profiles.runtimes import DEFAULT_RUNTIME

KIB = 1024
MIB = 1024 * KIB
Namespace = Literal["user", "mount", "pid", "net", "ipc", "uts", "cgroup"]
ALL_NAMESPACES: tuple[Namespace, ...] = ("user", "mount", "pid", "net", "ipc", "uts", "cgroup")
#: The confinement is built on these (ipc: no SysV IPC shared with the host or another
#: sandbox); a profile cannot turn them off. ``net`` is required too (see _consistent).
REQUIRED_NAMESPACES = frozenset({"user", "mount", "pid", "ipc"})
#: Paths an egress sandbox writes or mounts itself: a read-only bind must not hide them.
EGRESS_PATHS = ("/etc/hosts", "/etc/nsswitch.conf", "/run/airlock")


class Profile(BaseModel):
    """Limits one sandboxed worker runs under. Unknown fields are errors, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", description="Set from the file name; not written in the file.", exclude=True)
    description: str = Field(default="", description="What this profile is for, for operators.")
    mode: Literal["warm", "fresh"] = Field(
        default="warm",
        description="How workers start: 'warm' forks them from this profile's zygote, ahead of time into a "
        "warm pool; 'fresh' spawns a new interpreter per invocation. Confinement is identical.",
    )
    warm_pool_size: int = Field(
        default=2,
        ge=0,
        le=256,
        description="Workers forked and confined ahead of time ('warm' mode); 0 forks each on demand.",
    )
    zygote_max_forks: int = Field(
        default=1_000, ge=1, le=1_000_000, description="Forks after which the zygote is replaced by a new one."
    )
    zygote_max_age_seconds: float = Field(
        default=900.0, gt=0, le=86_400, description="Age after which the zygote is replaced by a new one."
    )
    runtime: str = Field(
        default=DEFAULT_RUNTIME,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="The plugin runtime (runtimes/<name>.txt): the only packages the sandbox can import, "
        "besides a function's own requirements.",
    )
    wall_seconds: float = Field(
        default=10.0,
        gt=0,
        le=86_400,
        description="Default and maximum wall-clock budget of an invocation's own running time; "
        "time spent waiting for the host to answer an __event_call__, or to read a backlog of events, does not count.",
    )
    session_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86_400,
        description="Absolute wall-clock ceiling of an invocation, waits for the host included.",
    )
    cpu_seconds: int = Field(
        default=5, ge=1, le=3_600, description="CPU time of the whole sandbox (cgroup), and RLIMIT_CPU per process."
    )
    cpu_cores: float = Field(
        default=1.0, gt=0, le=1024, description="CPUs the sandbox may use at once (cgroup CPU bandwidth)."
    )
    memory_mib: int = Field(
        default=256, ge=16, le=1_048_576, description="Memory of the whole sandbox (cgroup, no swap), in MiB."
    )
    address_space_mib: int = Field(
        default=4096,
        ge=64,
        le=1_048_576,
        description="Virtual address space per process (RLIMIT_AS), in MiB; generous, the cgroup is the real limit.",
    )
    pids: int = Field(default=64, ge=4, le=65_536, description="Processes and threads in the sandbox (pids cgroup).")
    tmp_size_mib: int = Field(default=32, ge=1, le=65_536, description="Size of the sandbox's private /tmp, in MiB.")
    tmp_inodes: int = Field(default=4096, ge=16, le=10_000_000, description="Files and directories /tmp may hold.")
    open_files: int = Field(default=64, ge=16, le=65_536, description="Open file descriptors (RLIMIT_NOFILE).")
    file_size_mib: int = Field(default=16, ge=0, le=1_048_576, description="Largest file a worker may write, in MiB.")
    output_bytes: int = Field(
        default=16 * MIB, ge=KIB, description="Total bytes of events, calls and result a worker may send."
    )
    frame_bytes: int = Field(default=1 * MIB, ge=KIB, description="Largest single frame (one event, call or result).")
    stdio_bytes: int = Field(
        default=1 * MIB, ge=0, description="Bytes the plugin may print to stdout/stderr before OUTPUT_LIMIT."
    )
    output_keep_bytes: int = Field(
        default=64 * KIB, ge=0, description="Bytes of printed output returned in Result.output."
    )
    max_events: int = Field(default=10_000, ge=1, description="Events plus calls one invocation may send.")
    max_events_per_second: int = Field(
        default=2_000, ge=1, description="Sustained rate of events plus calls (a one-second burst is allowed)."
    )
    namespaces: tuple[Namespace, ...] = Field(
        default=ALL_NAMESPACES,
        description="Namespaces the sandbox gets; user, mount, pid, ipc and net always.",
    )
    readonly_paths: tuple[str, ...] = Field(
        default=(), description="Extra host paths visible read-only (the Python runtime is always visible)."
    )
    seccomp: Literal["deny-list", "allow-list"] = Field(
        default="deny-list", description="Seccomp policy: refuse dangerous syscalls, or allow only what Python needs."
    )
    seccomp_extra_denied: tuple[str, ...] = Field(default=(), description="More syscalls to refuse with EPERM.")
    landlock: Literal["required", "best-effort"] = Field(
        default="required", description="Whether a host without Landlock may run this profile (without it)."
    )
    network: Literal["none", "egress"] = Field(
        default="none",
        description="Network access: 'none' (an empty network namespace) or 'egress' (only the hosts and "
        "ports of egress_allow, through the gateway's relay).",
    )
    egress_allow: tuple[str, ...] = Field(
        default=(),
        description="Destinations an egress profile may reach, as HOST:PORT (a name, an IPv4 address or "
        "[IPv6]); required for network = 'egress', forbidden otherwise.",
    )
    egress_allow_private: tuple[str, ...] = Field(
        default=(),
        description="Networks (CIDR) a listed name may resolve into although they are loopback, private or "
        "link-local; an entry that is an IP literal needs no line here.",
    )
    egress_connect_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="How long the gateway resolves and connects for one connection."
    )
    egress_max_connections: int = Field(
        default=16, ge=1, le=1024, description="Relayed connections one sandbox may hold open at once."
    )
    hostname: str = Field(default="airlock", pattern=r"^[a-z0-9-]{1,63}$", description="Hostname in the sandbox.")
    call_timeout_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Default wait for the host's answer to an __event_call__."
    )
    start_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="How long a new worker has to report ready (a warm profile's zygote gets this long, "
        "and at least 30 s, to import the runtime).",
    )
    inspect_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Wall clock for loading a source at registration."
    )
    max_concurrent: int = Field(default=16, ge=1, le=4_096, description="Workers of this profile at once.")

    @field_validator("namespaces")
    @classmethod
    def _required_namespaces(cls, value: tuple[Namespace, ...]) -> tuple[Namespace, ...]:
        missing = REQUIRED_NAMESPACES - set(value)
        if missing:
            raise ValueError(
                f"the user, mount, pid and ipc namespaces are required (missing: {', '.join(sorted(missing))})"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("readonly_paths")
    @classmethod
    def _absolute_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/") or path.startswith("//") or os.path.normpath(path) != path or path == "/":
                raise ValueError(f"read-only paths must be absolute, normalised and not '/': {path!r}")
            if any(f"{path}/".startswith(f"{special}/") for special in ("/proc", "/dev", "/sys")):
                raise ValueError(f"read-only paths cannot be below /proc, /dev or /sys: {path!r}")
        return value

    @field_validator("egress_allow")
    @classmethod
    def _valid_entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(entry.text for entry in parse_entries(value))
        except EntryError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("egress_allow_private")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(parse_network(text)) for text in value)
        except EntryError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("seccomp_extra_denied")
    @classmethod
    def _known_syscalls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import pyseccomp  # noqa: PLC0415 - only profiles that name syscalls need libseccomp here

        for name in value:
            if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) < 0:
                raise ValueError(f"unknown syscall {name!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.session_seconds < self.wall_seconds:
            raise ValueError("session_seconds must be at least wall_seconds")
        if self.frame_bytes > self.output_bytes:
            raise ValueError("frame_bytes must not exceed output_bytes")
        if "net" not in self.namespaces:
            # Egress too: the sandbox reaches the network only through the gateway's relay.
            raise ValueError(
                f'network = "{self.network}" needs the net namespace (otherwise the host\'s network is shared)'
            )
        if self.network == "none" and (self.egress_allow or self.egress_allow_private):
            raise ValueError('egress_allow and egress_allow_private need network = "egress"')
        if self.network == "egress":
            if not self.egress_allow:
                raise ValueError('network = "egress" needs egress_allow: the HOST:PORT destinations it may reach')
            for path in self.readonly_paths:
                if any(f"{special}/".startswith(f"{path}/") for special in EGRESS_PATHS):
                    raise ValueError(f"read-only path {path!r} would hide the sandbox's {', '.join(EGRESS_PATHS)}")
        return self
