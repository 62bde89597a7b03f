"""Escalation and the kernel's attack surface: refused, with no capability and no way back.

The plugin runs as uid 0 of its own user namespace (an unprivileged uid outside) with every
capability dropped, no_new_privs set and a seccomp filter installed. Seccomp refuses the
kernel surfaces below with EPERM whatever their arguments (``clone3`` with ENOSYS so that
libc falls back to ``clone``, whose flags the filter can see); without capabilities most
of them would fail anyway, which is the second layer.
"""

from __future__ import annotations

import stat
from typing import Any

import pytest

from airlock.client import AirlockClient, Outcome
from tests.helpers import sandbox_gone
from tests.threats.probe import SHIPPED_PROFILES, attack

pytestmark = [pytest.mark.anyio]

MIB = 1024 * 1024
NO_CAPABILITIES = {key: ["0000000000000000"] for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
CONFINED = {
    "Uid": ["0", "0", "0", "0"],
    "Gid": ["0", "0", "0", "0"],
    "Groups": [],
    **NO_CAPABILITIES,
    "NoNewPrivs": ["1"],
    "Seccomp": ["2"],
}
AT_FDCWD = -100


async def test_cant_hold_any_capability(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "status")
    assert attacked.value == CONFINED


@pytest.mark.parametrize("profile", SHIPPED_PROFILES)
async def test_cant_hold_any_capability_under_any_shipped_profile(client: AirlockClient, profile: str) -> None:
    attacked = await attack(client, "escalate", "status", profile=profile)
    assert attacked.value == CONFINED


async def test_cant_gain_capabilities_by_changing_ids(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "change_ids")
    # Becoming uid/gid 0 again "works" (it already is, inside); it grants nothing. Other ids
    # are not mapped into the namespace; groups were denied before the gid map was written.
    assert attacked.value == {
        "setuid(0)": "OK",
        "setgid(0)": "OK",
        "setuid(1000)": "EINVAL",
        "setresuid(65534)": "EINVAL",
        "setgroups([0])": "EPERM",
        "status": CONFINED,
    }


async def test_cant_raise_capabilities_with_capset(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "raise_capabilities")
    assert attacked.value == "EPERM"


@pytest.mark.parametrize(
    ("resource", "limits"),
    [
        ("RLIMIT_NOFILE", [64, 64]),
        ("RLIMIT_AS", [4096 * MIB, 4096 * MIB]),
        ("RLIMIT_CPU", [1, 2]),
        ("RLIMIT_FSIZE", [16 * MIB, 16 * MIB]),
        ("RLIMIT_CORE", [0, 0]),
    ],
)
async def test_cant_raise_rlimits(client: AirlockClient, resource: str, limits: list[int]) -> None:
    attacked = await attack(client, "escalate", "raise_rlimit", resource=resource)
    # Python reports setrlimit's EPERM as this ValueError.
    assert attacked.value == {"error": "ValueError: not allowed to raise maximum limit", "limits": limits}


async def test_cant_take_priority_over_the_host(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "priority")
    # A real-time spinner would starve the host's CPUs whatever the cgroup's CPU accounting says.
    assert attacked.value == {"SCHED_FIFO": "EPERM", "SCHED_RR": "EPERM", "nice -20": "EACCES", "ioprio RT": "EPERM"}


@pytest.mark.parametrize(("path", "exists"), [("/usr/bin/true", False), ("python", True)])
async def test_cant_exec(client: AirlockClient, path: str, exists: bool) -> None:
    # "python" is the interpreter binary itself, which the sandbox can see and read.
    attacked = await attack(client, "escalate", "execv", path=path)
    assert attacked.value == {"path exists": exists, "errno": "EPERM"}


async def test_cant_run_a_subprocess(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "run_subprocess", path="/usr/bin/true")
    assert attacked.value == {"exception": "PermissionError", "errno": "EPERM"}


async def test_cant_posix_spawn(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "posix_spawn")
    assert attacked.value == "EPERM"


async def test_cant_exec_from_memory(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "memfd_exec")
    assert attacked.value == {"fexecve": "EPERM", "execveat": "EPERM"}


async def test_cant_clone_into_a_new_user_namespace(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "clone_new_user")
    assert attacked.value == "EPERM"


async def test_cant_clone3(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "clone3")
    assert attacked.value == "ENOSYS"


@pytest.mark.parametrize(
    ("abi", "number"),
    [("i386", 310), ("x32", 272)],  # unshare in each ABI's numbering
)
@pytest.mark.parametrize("in_thread", [True, False], ids=["thread", "main-thread"])
async def test_cant_syscall_through_another_abi(client: AirlockClient, abi: str, number: int, in_thread: bool) -> None:
    attacked = await attack(
        client, "escalate", "other_abi", abi=abi, number=number, arg=0x10000000, in_thread=in_thread
    )
    # The filter is for x86_64: any other ABI is seccomp's "bad arch", whose action kills
    # the whole process before the call does anything.
    assert attacked.result.outcome is Outcome.CRASHED
    assert attacked.result.error == "the worker was killed by signal SIGSYS"
    assert await sandbox_gone(attacked.sandbox)


async def test_cant_install_a_seccomp_filter(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "new_seccomp_filter")
    assert attacked.value == {"seccomp()": "EPERM", "prctl(PR_SET_SECCOMP)": "EPERM"}


@pytest.mark.parametrize(
    ("option", "args", "errno_name"),
    [
        (38, [0, 0, 0, 0], "EINVAL"),  # PR_SET_NO_NEW_PRIVS 0: no_new_privs cannot be cleared
        (47, [2, 21, 0, 0], "EPERM"),  # PR_CAP_AMBIENT_RAISE CAP_SYS_ADMIN
        (22, [1, 0, 0, 0], "EPERM"),  # PR_SET_SECCOMP, SECCOMP_MODE_STRICT
    ],
    ids=["clear_no_new_privs", "raise_ambient_capability", "seccomp_strict_mode"],
)
async def test_cant_prctl_its_way_out(client: AirlockClient, option: int, args: list[int], errno_name: str) -> None:
    attacked = await attack(client, "escalate", "prctl", option=option, args=args)
    assert attacked.value == errno_name


@pytest.mark.parametrize("fd", [0, 1, 2])
async def test_cant_push_terminal_input_with_tiocsti(client: AirlockClient, fd: int) -> None:
    attacked = await attack(client, "escalate", "tiocsti", fd=fd)
    assert attacked.value == "EPERM"


async def test_cant_mknod_a_device(client: AirlockClient) -> None:
    mode = stat.S_IFCHR | 0o666
    attacked = await attack(client, "escalate", "mknod", path="/tmp/mem", mode=mode, major=1, minor=1)
    assert attacked.value == "EPERM"


async def test_cant_chroot(client: AirlockClient) -> None:
    attacked = await attack(client, "escalate", "chroot", path="/tmp")
    assert attacked.value == "EPERM"


async def test_cant_use_setuid_binaries(client: AirlockClient) -> None:
    # exec is refused outright (test_cant_exec); were it not, no_new_privs and nosuid on every
    # mount would make a setuid bit inert.
    mounts = (await attack(client, "hostfs", "mounts")).value
    assert all("nosuid" in options for _, options in mounts), mounts
    assert (await attack(client, "escalate", "status")).value["NoNewPrivs"] == ["1"]


def buffer(size: int) -> dict[str, int]:
    return {"buffer": size}


#: (syscall, x86_64 number, arguments): arguments that would do something without seccomp.
#: Airlock supports x86_64 only (runner/confine/syscalls.py numbers its syscalls the same way).
KERNEL_SURFACE: list[tuple[str, int, list[Any]]] = [
    ("unshare(CLONE_NEWUSER)", 272, [0x10000000]),
    ("unshare(CLONE_NEWNS)", 272, [0x00020000]),
    ("unshare(CLONE_NEWNET)", 272, [0x40000000]),
    ("unshare(CLONE_NEWPID)", 272, [0x20000000]),
    ("setns(own netns)", 308, [{"fd": "/proc/self/ns/net"}, 0]),
    ("mount(tmpfs)", 165, ["tmpfs", "/tmp", "tmpfs", 0, 0]),
    ("umount2(/proc)", 166, ["/proc", 2]),
    ("pivot_root", 155, ["/tmp", "/tmp"]),
    ("fsopen(tmpfs)", 430, ["tmpfs", 0]),
    ("fspick", 433, [AT_FDCWD, "/", 0]),
    ("fsmount", 432, [-1, 0, 0]),
    ("open_tree(OPEN_TREE_CLONE)", 428, [AT_FDCWD, "/", 1]),
    ("move_mount", 429, [AT_FDCWD, "/tmp", AT_FDCWD, "/proc", 0]),
    ("mount_setattr", 442, [AT_FDCWD, "/", 0, buffer(32), 32]),
    ("bpf(BPF_MAP_CREATE)", 321, [0, buffer(128), 128]),
    ("bpf(BPF_PROG_LOAD)", 321, [5, buffer(128), 128]),
    ("perf_event_open", 298, [buffer(128), 0, -1, -1, 0]),
    ("userfaultfd", 323, [0]),
    ("userfaultfd(UFFD_USER_MODE_ONLY)", 323, [1]),
    ("io_uring_setup", 425, [8, buffer(120)]),
    ("io_uring_enter", 426, [0, 0, 0, 0, 0, 0]),
    ("io_uring_register", 427, [0, 0, 0, 0]),
    ("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", 250, [1, 0]),
    ("keyctl(KEYCTL_GET_KEYRING_ID)", 250, [0, -3, 1]),
    ("add_key", 248, ["user", "airlock", buffer(8), 8, -2]),
    ("request_key", 249, ["user", "airlock", 0, -2]),
    ("open_by_handle_at", 304, [{"fd": "/tmp"}, buffer(136), 0]),
    ("name_to_handle_at", 303, [AT_FDCWD, "/tmp", buffer(136), buffer(8), 0]),
    ("mknodat(fifo)", 259, [AT_FDCWD, "/tmp/fifo", stat.S_IFIFO | 0o600, 0]),
    ("personality(READ_IMPLIES_EXEC)", 135, [0x0400000]),
    ("personality(ADDR_NO_RANDOMIZE)", 135, [0x0040000]),
    ("init_module", 175, [buffer(64), 64, ""]),
    ("finit_module", 313, [{"fd": "/dev/null"}, "", 0]),
    ("delete_module", 176, ["airlock", 0]),
    ("kexec_load", 246, [0, 0, 0, 0]),
    ("kexec_file_load", 320, [-1, -1, 0, "", 0]),
    ("reboot(CAD_OFF)", 169, [0xFEE1DEAD, 0x28121969, 0, 0]),
    ("swapon", 167, ["/tmp/swap", 0]),
    ("swapoff", 168, ["/tmp/swap"]),
    ("acct", 163, [0]),
    ("syslog(READ_ALL)", 103, [3, buffer(4096), 4096]),
    ("quotactl", 179, [0, 0, 0, 0]),
    ("vhangup", 153, []),
    ("settimeofday", 164, [buffer(16), 0]),
    ("clock_settime", 227, [0, buffer(16)]),
    ("clock_adjtime", 305, [0, buffer(208)]),
    ("adjtimex(read only)", 159, [buffer(208)]),
    ("iopl", 172, [3]),
    ("ioperm", 173, [0x80, 1, 1]),
    ("sethostname", 170, ["evil", 4]),
    ("setdomainname", 171, ["evil", 4]),
    ("fanotify_init", 300, [0, 0]),
    ("landlock_create_ruleset(version)", 444, [0, 0, 1]),
    ("kcmp", 312, [1, 2, 0, 0, 0]),
    ("pidfd_getfd", 438, [-1, 0, 0]),
    ("uselib", 134, ["/tmp/lib.so"]),
    ("lookup_dcookie", 212, [0, buffer(64), 64]),
    ("nfsservctl", 180, [0, 0, 0]),
    ("execve", 59, ["/usr/bin/true", 0, 0]),
    ("modify_ldt(read)", 154, [0, buffer(64), 64]),
    ("process_madvise", 440, [-1, 0, 0, 0, 0]),
    ("inotify_init1", 294, [0]),
]
#: Syscalls newer than the seccomp policy: refused as an older kernel would, until reviewed.
UNREVIEWED: list[tuple[str, int, list[Any]]] = [
    ("statmount", 457, [buffer(32), buffer(512), 512, 0]),
    ("listmount", 458, [buffer(32), buffer(64), 8, 0]),
    ("mseal", 462, [0, 4096, 0]),
]


@pytest.mark.parametrize(
    ("number", "args"), [(n, a) for _, n, a in KERNEL_SURFACE], ids=[s for s, _, _ in KERNEL_SURFACE]
)
async def test_cant_reach_the_kernel_surface(client: AirlockClient, number: int, args: list[Any]) -> None:
    attacked = await attack(client, "escalate", "syscall", number=number, args=args)
    assert attacked.value == "EPERM"


@pytest.mark.parametrize(("number", "args"), [(n, a) for _, n, a in UNREVIEWED], ids=[s for s, _, _ in UNREVIEWED])
async def test_cant_use_syscalls_newer_than_the_policy(client: AirlockClient, number: int, args: list[Any]) -> None:
    attacked = await attack(client, "escalate", "syscall", number=number, args=args)
    assert attacked.value == "ENOSYS"


@pytest.mark.parametrize("profile", SHIPPED_PROFILES)
async def test_cant_reach_the_kernel_surface_under_any_shipped_profile(client: AirlockClient, profile: str) -> None:
    calls = {name: {"number": number, "args": args} for name, number, args in KERNEL_SURFACE}
    attacked = await attack(client, "escalate", "syscalls", profile=profile, calls=calls)
    assert attacked.value == dict.fromkeys(calls, "EPERM")
