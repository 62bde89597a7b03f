"""The cgroup-v2 suite, run inside a real cgroup-v2 kernel (tests/vm/machine.py boots it).

Two boots of Debian 12's kernel under QEMU:

* with Landlock (ABI 2): start-up in a cgroup shared with another process and doctor's
  prediction of it (check_start), every verdict and cleanup in warm and fresh mode
  (check_verdicts), a plugin with requirements from a package index and one with egress
  (check_workloads), SIGKILL of a gateway and the sweep after it, an unprivileged gateway
  in a delegated subtree and one refused (check_lifecycle);
* without Landlock (``lsm=lockdown,yama,apparmor``): check_no_landlock;
* with systemd as PID 1 (``init="systemd"``): the shipped unit, delegated and undelegated
  scopes (check_systemd).

Each boot runs one pytest in the guest; its summary is this test's failure message.
"""

from __future__ import annotations

import compileall
import shlex

import pytest

from tests.vm.machine import LSM_LANDLOCK, LSM_NO_LANDLOCK, REPO, GuestRun, Init, missing_packages, run

pytestmark = [
    pytest.mark.slow,
    # Minutes of emulated time each (about 20x the host's).
    pytest.mark.timeout(3000),
    pytest.mark.xfail(
        bool(missing_packages()),
        strict=True,
        reason=f"the VM needs Debian's {', '.join(missing_packages())} (apt-get install)",
    ),
]

GUEST = "tests/vm/guest"

#: The guest's shell: it moves itself into a cgroup of a "login session" beside another
#: process, the shape that made `airlock serve` fail with EBUSY, and starts pytest there.
#: /root becomes traversable for the unprivileged check: the interpreter lives under
#: /root/.pyenv (the guest's root is a throw-away overlay).
SESSION = """set -e
chmod 0711 /root
mkdir /sys/fs/cgroup/login.scope
echo $$ > /sys/fs/cgroup/login.scope/cgroup.procs
sleep 1000000 >/dev/null 2>&1 &
export TESTS_VM_SIBLING=$!
exec """


#: pytest in the guest: only the check_*.py files named, no cache written into the checkout.
PYTEST = [".venv/bin/python", "-m", "pytest", "-p", "no:cacheprovider", "-o", "python_files=check_*.py"]


def pytest_in_guest(*files: str) -> str:
    argv = [*PYTEST, "-o", "timeout=900", "-q", "-rfE", *(f"{GUEST}/{name}" for name in files)]
    return SESSION + shlex.join(argv)


def run_suite(command: str, lsm: str, init: Init = "busybox", env: dict[str, str] | None = None) -> GuestRun:
    done = run(
        command,
        timeout=2700,
        lsm=lsm,
        init=init,
        env={"TESTS_VM_GUEST": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
    )
    summary = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"the guest's pytest failed ({done.seconds:.0f} s):\n{summary}"
    print(f"guest: {done.seconds:.0f} s\n{done.stdout[-800:]}")
    return done


def test_cgroup_v2_suite() -> None:
    files = ("check_start.py", "check_verdicts.py", "check_workloads.py", "check_lifecycle.py")
    run_suite(pytest_in_guest(*files), LSM_LANDLOCK)


def test_no_landlock_suite() -> None:
    run_suite(pytest_in_guest("check_no_landlock.py"), LSM_NO_LANDLOCK)


def test_systemd_suite() -> None:
    # The unit's ProtectSystem=strict makes the checkout read-only to its gateway, which would
    # compile every module it imports again at each start (a minute of emulated time); an
    # installed package has its bytecode from pip. Compiled here, on the host, in seconds.
    for package in ("airlock", "gateway", "runner"):
        assert compileall.compile_dir(REPO / package, quiet=1)
    # PYTHONPATH: the airlock commands and the unit run this checkout's code (a worktree's
    # .venv may be another checkout's, whose editable install points there).
    command = shlex.join([*PYTEST, "-o", "timeout=1200", "-q", "-rfE", f"{GUEST}/check_systemd.py"])
    run_suite(command, LSM_LANDLOCK, init="systemd", env={"PYTHONPATH": str(REPO)})
