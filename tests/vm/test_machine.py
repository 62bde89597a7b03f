"""The VM harness itself: the guest is the cgroup-v2 host the other VM tests rely on.

Facts checked here, on Debian bookworm's linux-image-6.1.0-<N>-amd64 booted with
``cgroup_no_v1=all``: cgroup2 is the only cgroup file system mounted, at /sys/fs/cgroup with
nsdelegate and memory_recursiveprot; the root delegates memory, pids and cpu (with cpuset,
io, hugetlb, rdma, misc); Landlock reports ABI 2 (6.1: file system rules plus REFER), and
``landlock_create_ruleset`` (syscall 444) fails with EOPNOTSUPP when booted without Landlock
in ``lsm=``; the guest runs the host's Python 3.11; stdout, stderr and the exit status come
back apart; orphans are reaped; with ``init="systemd"``, systemd is PID 1 and runs the command
as a service of a VM (not a container) without network. Four boots, ~30 s in all here on an
idle host (one waits for its timeout).

Without QEMU or busybox-static on the host these tests fail as strict xfails that name the
Debian packages to install: never silently skipped.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest

from tests.vm.machine import LSM_NO_LANDLOCK, Assets, VMTimeout, ensure_assets, missing_packages, run

MISSING = missing_packages()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xfail(bool(MISSING), strict=True, reason=f"the host lacks the Debian packages {MISSING}"),
]

#: One interpreter start reports everything (each process start costs ~0.1 s in the guest).
PROBE = r"""
import ctypes, glob, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
# landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version or -1.
abi = libc.syscall(444, None, 0, 1)
mounts = [line.split(" - ")[1].split()[0:3] for line in open("/proc/self/mountinfo")]
cgroup_mounts = [m for m in mounts if m[0].startswith("cgroup")]
zombies = [p for p in glob.glob("/proc/[0-9]*/status") if "\nState:\tZ" in open(p).read()]
print(json.dumps({
    "abi": abi if abi >= 0 else -ctypes.get_errno(),
    "cgroup_mounts": cgroup_mounts,
    "cgroup2_at": [l.split()[4] for l in open("/proc/self/mountinfo") if " - cgroup2 " in l],
    "subtree_control": open("/sys/fs/cgroup/cgroup.subtree_control").read().split(),
    "lsm": open("/sys/kernel/security/lsm").read(),
    "version": list(sys.version_info[:2]),
    "executable": os.path.realpath(sys.executable),
    "zombies": zombies,
}))
print("this goes to stderr", file=sys.stderr)
sys.exit(7)
"""

EOPNOTSUPP = 95


@pytest.fixture(scope="module")
def assets() -> Assets:
    """Fetched once per module (apt's lookup of the newest kernel costs ~0.5 s)."""
    return ensure_assets()


@pytest.mark.timeout(600)  # the first run downloads the kernel (70 MB)
def test_guest_is_a_cgroup_v2_host_with_landlock(assets: Assets) -> None:
    # A child that outlives its parent: busybox init (PID 1) must reap it before the probe.
    command = f"sh -c 'sleep 0.2 &'; python3 -c {shlex.quote(PROBE)}"
    done = run(command, timeout=120, assets=assets)
    assert done.returncode == 7, done
    assert done.stderr == "this goes to stderr\n"
    facts = json.loads(done.stdout)
    assert facts["cgroup_mounts"] == [["cgroup2", "cgroup2", "rw,nsdelegate,memory_recursiveprot"]]
    assert facts["cgroup2_at"] == ["/sys/fs/cgroup"]
    assert {"memory", "pids", "cpu"} <= set(facts["subtree_control"])
    assert facts["abi"] == 2
    assert "landlock" in facts["lsm"].split(",")
    assert facts["version"] == [3, 11]
    assert "/shims/" not in facts["executable"]
    assert facts["zombies"] == []
    assert "airlock-vm: command exited with 7" in done.console


@pytest.mark.timeout(300)
def test_guest_without_landlock(assets: Assets) -> None:
    done = run(f"python3 -c {shlex.quote(PROBE)}", timeout=120, lsm=LSM_NO_LANDLOCK, assets=assets)
    facts = json.loads(done.stdout)
    assert facts["abi"] == -EOPNOTSUPP
    assert "landlock" not in facts["lsm"]


@pytest.mark.timeout(300)
def test_timeout_kills_the_vm_and_shows_the_console(assets: Assets) -> None:
    started = time.monotonic()
    with pytest.raises(VMTimeout) as raised:
        # 10 s: about three times what the boot takes here before the command starts.
        run("echo started; sleep 600", timeout=10, assets=assets)
    assert time.monotonic() - started < 20
    message = str(raised.value)
    assert "did not finish within 10 s" in message
    assert "airlock-vm: command starts at" in message  # the console's tail
    assert "started" in message  # the command's stdout so far


@pytest.mark.timeout(300)
def test_guest_under_systemd(assets: Assets) -> None:
    # One shell: each systemd tool costs about half a second under emulation.
    command = (
        "cat /proc/1/comm /proc/self/cgroup; hostname; systemd-detect-virt; ls /sys/class/net; "
        "systemctl is-active systemd-journald.service; systemctl is-enabled timers.target; "
        "echo this goes to stderr >&2; exit 5"
    )
    done = run(command, timeout=180, init="systemd", assets=assets)
    assert done.returncode == 5, done
    assert done.stderr == "this goes to stderr\n"
    assert done.stdout.split() == [
        "systemd",
        "0::/system.slice/airlock-vm-command.service",
        "airlock-vm",
        "qemu",  # not "docker", where the host is a container
        "lo",  # no network unless asked for
        "active",
        "masked",
    ]
    assert "airlock-vm: command exited with 5" in done.console
