"""Run one command in a throw-away VM with a cgroup-v2-only Debian 6.1 kernel (QEMU, TCG).

This machine's cgroup controllers sit on v1 hierarchies that belong to the machine; the hosts
Airlock is deployed on have cgroup v2 only. ``run()`` boots Debian's 6.1 kernel with
``cgroup_no_v1=all`` and runs a command in it::

    from tests.vm.machine import run
    done = run("python3 -m pytest -q tests/unit/test_cgroups.py", timeout=600)
    done.returncode, done.stdout, done.stderr

The guest sees the host's ``/`` read-only under a throw-away tmpfs overlay, a fresh ``/tmp``,
and the repository read-write at its own path (the command starts there). The host's Python
3.11 (its real bin directory, not pyenv's shims) is first on PATH. cgroup2 is mounted at
/sys/fs/cgroup with ``nsdelegate,memory_recursiveprot`` and every controller enabled at the
root (cpuset cpu io memory hugetlb pids rdma misc). Landlock is on by default (ABI 2 on 6.1);
``lsm=LSM_NO_LANDLOCK`` boots a kernel without it. No network unless ``network=True``: then
the host's 127.0.0.1 is 10.0.2.2 in the guest.

KVM is not usable here (a PVM host runs only PVM-patched guests), so QEMU emulates: Python is
about 20x slower than on the host and a process start costs ~0.1 s. Measured on this machine
(2 host CPUs): the command starts ~3 s after QEMU (2.6-2.9 s of guest uptime), ``python3 -c
'print(1)'`` takes 1.1-1.3 s inside, and a run of it 4.1-4.7 s of wall time, boot and poweroff
included (booting the bzImage rather than the vmlinux taken out of it cost 3 s more). The
first ensure_assets() takes ~5 s (70 MB from apt, dpkg-deb, depmod, vmlinux, initramfs), then
0.5 s (apt's lookup of the newest kernel). test_machine.py: ~20 s for three boots.

How the output comes back: the command writes into pipes (as under subprocess.run, not a
tty), relayed to the guest's ttyS1 and ttyS2, which QEMU writes into FIFOs on the host (files
written on a 9p share lost output at poweroff); its exit status is written into the shared
run directory. Like subprocess.run, the run ends when every process holding those pipes has
closed them: a daemon the command starts must redirect its output. The kernel console
(ttyS0) is kept in ``GuestRun.console``. PID 1 is busybox init, which reaps orphans (busybox
sh would leave them as zombies). ``modprobe`` works in the guest: /lib/modules/<uname -r> is
the cached kernel's whole tree.

``init="systemd"`` boots the host's systemd (Debian 12: 252) as PID 1 instead, into
airlock-vm.target: the command runs once as airlock-vm-command.service (root, in
/system.slice/airlock-vm-command.service, after basic.target: journald, tmpfiles and D-Bus's
socket are up), with the same environment, pipes and exit status, then the guest powers off.
Units that cost emulated time for nothing here (timers, NTP, module loading, debug and fuse
file systems, utmp, random seed...) are masked, and no generator runs (tests/vm/systemd/
lists them and says why); the command may install, start and stop units of its own. The
command starts ~6 s later than under busybox (systemd's own start, loading units, journald,
sysctl, tmpfiles): at 9.2-10.8 s of guest uptime against 3.4-3.8 s, and a run of ``cat
/proc/uptime`` takes 10-12 s of wall time against 5-6 s (measured back to back here, with
another VM running). Masking the units and generators above saved ~6 s of the boot.
"""

from __future__ import annotations

import os
import selectors
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.vm.assets import QBOOT, Assets, MissingPackages, VMError, ensure_assets, missing_packages, tool

__all__ = [
    "LSM_LANDLOCK",
    "LSM_NO_LANDLOCK",
    "REPO",
    "Assets",
    "GuestRun",
    "Init",
    "MissingPackages",
    "VMError",
    "VMTimeout",
    "ensure_assets",
    "missing_packages",
    "run",
]

#: The repository: shared read-write with the guest at this same path, the command's cwd.
REPO = Path(__file__).resolve().parents[2]

#: Debian's default LSM order, with Landlock first, as on the hosts Airlock runs on.
LSM_LANDLOCK = "landlock,lockdown,yama,integrity,apparmor"

#: A kernel without Landlock: landlock_create_ruleset fails with EOPNOTSUPP.
LSM_NO_LANDLOCK = "lockdown,yama,apparmor"

#: The host's real Python bin directory (sys.executable resolved through venv and pyenv links):
#: pyenv's shims are shell scripts that cost ~10 s each under emulation.
PYTHON_BIN = Path(sys.executable).resolve().parent

_KERNEL_ARGS = "console=ttyS0 quiet panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"

#: PID 1 of the guest: busybox init, or Debian's systemd (the host's, 252 on bookworm).
Init = Literal["busybox", "systemd"]

#: The console lines kept in error messages.
_TAIL_LINES = 40


class VMTimeout(VMError):
    """The command did not finish in time; QEMU was killed. The message ends with the console."""


@dataclass(frozen=True)
class GuestRun:
    """What one command did in the VM."""

    returncode: int
    stdout: str
    stderr: str
    console: str
    """The kernel console (ttyS0): boot messages, the guest scripts' errors."""
    seconds: float
    """Wall time from starting QEMU to its exit, boot and poweroff included."""


def guest_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The command's whole environment in the guest: a small base, then ``env`` over it."""
    base = {
        "PATH": f"{PYTHON_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    return base | (env or {})


def run(
    command: str | list[str],
    *,
    timeout: float,
    lsm: str = LSM_LANDLOCK,
    memory_mib: int = 2048,
    cpus: int = 2,
    env: dict[str, str] | None = None,
    network: bool = False,
    extra_kernel_args: str = "",
    init: Init = "busybox",
    assets: Assets | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
) -> GuestRun:
    """Boot the VM, run ``command`` with ``/bin/sh -c`` in the repository, and power off.

    A string is a shell command line, a list an argv (quoted for the shell). ``timeout``
    counts from QEMU's start (boot included, asset fetching not); when it passes, QEMU is
    killed and VMTimeout raised. VMError when the guest ended without an exit status.
    ``on_stdout_line`` gets each complete line of the command's stdout as it arrives (for
    progress during long runs; the whole output is still in the result).
    ``init="systemd"`` boots systemd as PID 1; the command then runs as the service
    airlock-vm-command.service (see the module's docstring).
    """
    assets = assets or ensure_assets()
    script = command if isinstance(command, str) else shlex.join(command)
    with tempfile.TemporaryDirectory(prefix="airlock-vm-") as tmp:
        rundir = Path(tmp)
        io = rundir / "io"
        io.mkdir()
        settings = {
            "VM_REPO": str(REPO),
            "VM_MODULES": str(assets.modules),
            "VM_NETWORK": str(int(network)),
            "VM_INIT": init,
        }
        (io / "vm.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items()))
        (io / "command.sh").write_text(_command_script(script, guest_environment(env)))
        streams = ("console", "stdout", "stderr")
        for name in streams:
            os.mkfifo(rundir / name)
        # Readers first: QEMU's open() of a FIFO for writing waits for one.
        fds = {name: os.open(rundir / name, os.O_RDONLY | os.O_NONBLOCK) for name in streams}
        argv = _qemu_argv(assets, rundir, memory_mib=memory_mib, cpus=cpus, network=network)
        argv += ["-append", f"{_KERNEL_ARGS} lsm={lsm} {extra_kernel_args}".strip()]
        output: dict[str, bytearray] = {name: bytearray() for name in streams}
        started = time.monotonic()
        try:
            with (rundir / "qemu.log").open("wb") as log:
                qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                finished = _relay(qemu, fds, output, started + timeout, on_stdout_line)
            finally:
                if qemu.poll() is None:
                    qemu.kill()
                qemu.wait()
        finally:
            for fd in fds.values():
                os.close(fd)
        seconds = time.monotonic() - started
        console = output["console"].decode(errors="replace")
        status = io / "exit"
        if not finished:
            raise VMTimeout(_timeout_message(timeout, status, output))
        if not status.exists():
            said = (rundir / "qemu.log").read_text(errors="replace").strip() or "(nothing)"
            raise VMError(
                f"the VM stopped without the command's exit status (QEMU's exit status {qemu.returncode}, "
                f"QEMU said: {said}); the console's end:\n{_tail(console)}"
            )
        return GuestRun(
            returncode=int(status.read_text()),
            stdout=output["stdout"].decode(errors="replace"),
            stderr=output["stderr"].decode(errors="replace"),
            console=console,
            seconds=seconds,
        )


def _timeout_message(timeout: float, status: Path, output: dict[str, bytearray]) -> str:
    if status.exists():
        # stage2.sh writes the status before it waits for the relays of stdout and stderr.
        what = (
            f"the command exited (status {status.read_text().strip()}) but processes it left behind "
            f"kept its stdout or stderr open for {timeout:g} s"
        )
    else:
        what = f"the command did not finish within {timeout:g} s (boot included); QEMU was killed"
    parts = [what]
    for name in ("stdout", "stderr", "console"):
        text = _tail(output[name].decode(errors="replace"))
        parts.append(f"--- the end of its {name}:\n{text}" if text else f"--- no {name}")
    return "\n".join(parts)


def _command_script(script: str, env: dict[str, str]) -> str:
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"cd {shlex.quote(str(REPO))}\nexec env -i {assignments} /bin/sh -c {shlex.quote(script)}\n"


def _qemu_argv(assets: Assets, rundir: Path, *, memory_mib: int, cpus: int, network: bool) -> list[str]:
    argv = [
        tool("qemu-system-x86_64"),
        # TCG: /dev/kvm here is a PVM host, on which a stock kernel hangs (VM.md's settings).
        *("-machine", "pc,accel=tcg", "-cpu", "max,la57=off"),
        *("-smp", str(cpus), "-m", str(memory_mib)),
        # qboot: a minimal firmware (no option ROM scan, no boot menu); -no-reboot: a reboot
        # (panic=-1 after a failure in the guest) ends QEMU.
        *("-bios", str(QBOOT), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"),
        *("-kernel", str(assets.vmlinux), "-initrd", str(assets.initramfs)),
    ]
    for name in ("console", "stdout", "stderr"):  # ttyS0, ttyS1, ttyS2
        argv += ["-chardev", f"file,id={name},path={_quoted(rundir / name)}", "-serial", f"chardev:{name}"]
    shares = [
        ("root", Path("/"), True),
        ("repo", REPO, False),
        ("io", rundir / "io", False),
    ]
    for tag, path, readonly in shares:
        # multidevs=remap: the host's / spans several file systems whose inode numbers collide.
        options = f"local,id={tag},path={_quoted(path)},security_model=none,multidevs=remap"
        argv += ["-fsdev", options + (",readonly=on" if readonly else "")]
        argv += ["-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]
    if network:
        argv += ["-nic", "user,model=virtio-net-pci"]
    return argv


def _quoted(path: Path) -> str:
    """A path as a QEMU option value (a comma would end the value: QEMU doubles it)."""
    return str(path).replace(",", ",,")


def _relay(
    qemu: subprocess.Popen[bytes],
    fds: dict[str, int],
    into: dict[str, bytearray],
    deadline: float,
    on_stdout_line: Callable[[str], None] | None = None,
) -> bool:
    """Read the FIFOs until QEMU exits, then drain them; False when the deadline passes first."""
    passed_on = 0

    def pass_on_lines() -> None:
        nonlocal passed_on
        if on_stdout_line is None:
            return
        end = into["stdout"].rfind(b"\n") + 1
        if end > passed_on:
            for line in into["stdout"][passed_on:end].decode(errors="replace").splitlines():
                on_stdout_line(line)
            passed_on = end

    with selectors.DefaultSelector() as selector:
        for name, fd in fds.items():
            selector.register(fd, selectors.EVENT_READ, name)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # QEMU closes the FIFOs a moment before it exits, and one it never opened never
            # becomes readable: poll QEMU itself too.
            if selector.get_map():
                events = selector.select(timeout=min(remaining, 0.1))
            else:
                events = []
                time.sleep(0.02)
            exited = qemu.poll() is not None
            for key, _ in events:
                _read(key.fd, into[key.data], selector)
            pass_on_lines()
            if exited:
                for key in list(selector.get_map().values()):
                    while _read(key.fd, into[key.data], selector):
                        pass
                pass_on_lines()
                return True


def _read(fd: int, into: bytearray, selector: selectors.BaseSelector) -> bool:
    """Read what is there; False at end of file (then unregistered) or when nothing waits."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return False
    if not chunk:
        selector.unregister(fd)
        return False
    into += chunk
    return True


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-_TAIL_LINES:])
