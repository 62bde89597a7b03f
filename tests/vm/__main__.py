"""Run one command in the test VM: ``python -m tests.vm [options] -- <command>``.

From the repository's root, for example::

    .venv/bin/python -m tests.vm -- cat /sys/fs/cgroup/cgroup.subtree_control
    .venv/bin/python -m tests.vm --timeout 900 -- python3 -m pytest -q tests/unit/test_cgroups.py

The command's stdout and stderr are printed as they came back, then its exit status and the
VM's wall time on stderr; the exit status is the command's (124 after a timeout, 125 when the
VM could not run it, like timeout(1)).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import get_args

from tests.vm.machine import LSM_LANDLOCK, LSM_NO_LANDLOCK, Init, VMError, VMTimeout, run


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the command, print what it did; the command's exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.vm", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=float, default=600, help="seconds, boot included (default 600)")
    parser.add_argument("--no-landlock", action="store_true", help=f"boot with lsm={LSM_NO_LANDLOCK}")
    parser.add_argument("--network", action="store_true", help="user-mode network: the host is 10.0.2.2")
    parser.add_argument("--memory-mib", type=int, default=2048)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--init", choices=get_args(Init), default="busybox", help="PID 1 of the guest")
    parser.add_argument("--console", action="store_true", help="print the kernel console too (on stderr)")
    parser.add_argument("command", nargs="+", help="a shell command line, or an argv after --")
    args = parser.parse_args(argv)
    command = args.command[0] if len(args.command) == 1 else shlex.join(args.command)
    try:
        done = run(
            command,
            timeout=args.timeout,
            lsm=LSM_NO_LANDLOCK if args.no_landlock else LSM_LANDLOCK,
            memory_mib=args.memory_mib,
            cpus=args.cpus,
            network=args.network,
            init=args.init,
        )
    except VMTimeout as e:
        print(f"python -m tests.vm: {e}", file=sys.stderr)
        return 124
    except VMError as e:
        print(f"python -m tests.vm: {e}", file=sys.stderr)
        return 125
    sys.stdout.write(done.stdout)
    sys.stdout.flush()
    sys.stderr.write(done.stderr)
    if args.console:
        sys.stderr.write(f"--- console\n{done.console}")
    print(f"--- exit status {done.returncode} ({done.seconds:.1f} s in the VM)", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
