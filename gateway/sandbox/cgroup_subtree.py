"""Which cgroup v2 subtree a gateway may take for its sandboxes, and taking it.

cgroup v2 gives each subtree one writer (the kernel's delegation model, and systemd's rule
that nobody changes a cgroup it manages unless it delegated it). A gateway uses the
cgroup it was started in when that cgroup is its to use:

* systemd delegated it: a unit or scope with ``Delegate=yes``. systemd marks such a cgroup
  with the ``trusted.delegate`` (or ``user.delegate``) xattr since v251; older ones are
  asked with ``systemctl show``. Under ``User=`` it also chowns the cgroup to that user.
* no systemd manages the tree the gateway sees (a container's own cgroup namespace, the
  host's tree bound into a container, a host with another init): whoever started the
  gateway in that cgroup gave it to it.

A cgroup systemd manages and did not delegate (a login session's scope, a service without
``Delegate=yes``) is refused with the command that starts the gateway properly: systemd may
rewrite or remove it at any time, under the sandboxes' feet.

Taking the subtree turns the gateway's cgroup into an inner node. The kernel lets a cgroup
hand controllers to its children only while it holds no process itself ("no internal
processes"), so every process in it moves into a leaf first: the gateway into ``gateway``,
anything that shares its cgroup (an init such as tini, the shell that started it, a
``docker exec`` health check) into ``shared``, as container runtimes and systemd do with
their payloads. A process can join between the move and enabling the controllers; the move
is then repeated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: The controllers each sandbox's cgroup needs.
CONTROLLERS = ("memory", "pids", "cpu")
#: The leaf the gateway moves into, and the leaf for the processes that shared its cgroup.
GATEWAY_LEAF = "gateway"
SHARED_LEAF = "shared"
#: The directory below the subtree that holds the gateways' and sandboxes' cgroups.
BASE = "airlock"
#: How often the move and the enabling are tried while processes keep joining.
_TAKE_ROUNDS = 100

_START_PROPERLY = (
    "start the gateway in a cgroup of its own that systemd delegates: the shipped unit "
    "(deploy/systemd/airlock.service, which sets Delegate=yes), or "
    "`systemd-run --scope -p Delegate=yes -- airlock serve ...` "
    "(as an unprivileged user: `systemd-run --user --scope -p Delegate=yes -- airlock serve ...`)"
)


class SubtreeError(Exception):
    """The gateway's cgroup cannot be used; the message says what to do instead."""


@dataclass(frozen=True)
class Subtree:
    """The gateway's cgroup v2 subtree: where it is and why it is the gateway's to use."""

    #: The cgroup's directory (the gateway's own cgroup, or the one its leaf is in).
    path: Path
    #: Its path as /proc/self/cgroup names it.
    name: str
    #: Why the gateway may use it, for doctor and the start-up log.
    granted_by: str
    #: Other processes in it, which move into the ``shared`` leaf.
    others: tuple[int, ...]
    #: The hierarchy's root, which may hold processes and hand controllers down alike
    #: (it also holds kernel threads, which cannot move).
    root: bool = False

    def describe(self) -> str:
        """Where it is, why it is the gateway's, what taking it moves."""
        moving = f"; {len(self.others)} other process(es) in it move to a leaf" if self.others and not self.root else ""
        return f"{self.name} ({self.granted_by}{moving})"

    def take(self) -> None:
        """Move every process into a leaf and enable the controllers for the subtree."""
        if self.root:
            _enable(self.path)
            return
        gateway_leaf = self.path / GATEWAY_LEAF
        gateway_leaf.mkdir(exist_ok=True)
        _move(os.getpid(), gateway_leaf)
        for _ in range(_TAKE_ROUNDS):
            for pid in _procs(self.path):
                if pid == os.getpid():
                    _move(pid, gateway_leaf)
                else:
                    shared = self.path / SHARED_LEAF
                    shared.mkdir(exist_ok=True)
                    _move(pid, shared)
            try:
                _enable(self.path)
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
            # EBUSY: a process joined after the move (a health check that just started).
            time.sleep(0.01)
        raise SubtreeError(
            f"processes keep joining {self.name} faster than the gateway can move them to a leaf; "
            "start it in a cgroup of its own"
        )


def _enable(directory: Path) -> None:
    (directory / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))


def _procs(directory: Path) -> list[int]:
    return [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]


def _move(pid: int, leaf: Path) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        (leaf / "cgroup.procs").write_text(str(pid))


def _xattr_delegated(directory: Path) -> bool | None:
    """The mark systemd (v251+) sets: True or False when set, None when absent or unreadable."""
    for name in ("trusted.delegate", "user.delegate"):
        with contextlib.suppress(OSError):
            return os.getxattr(directory, name) == b"1"
    return None


def _systemctl_delegated(unit: str) -> bool:
    """Ask systemd whether ``unit`` has Delegate=yes (systemd before v251 sets no xattr)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not unit.endswith((".service", ".scope")):
        return False
    for scope in ([], ["--user"]):
        try:
            done = subprocess.run(
                [systemctl, *scope, "show", "--property=Delegate", "--value", unit],
                capture_output=True,
                timeout=5,
                check=False,
                text=True,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == "yes":
            return True
    return False


def systemd_manages() -> bool:
    """Whether systemd is the init of the cgroup tree this process sees (its runtime dir exists)."""
    return Path("/run/systemd/system").is_dir()


def find(mount: Path, own: str) -> Subtree:
    """The subtree at ``own`` (a path of /proc/self/cgroup) below the cgroup2 ``mount``.

    Everything :meth:`Subtree.take` needs is checked here, so that ``airlock doctor`` (which
    calls this and never takes anything) predicts what ``airlock serve`` does.
    """
    path, name = mount / own.lstrip("/"), own
    if path.name in (GATEWAY_LEAF, SHARED_LEAF) and (path.parent / BASE).is_dir():
        # A gateway took this subtree before: an earlier gateway of this process, or one
        # that died, whose supervisor (moved to the shared leaf) started this one. The
        # subtree is the leaf's parent, where that gateway's leftovers are swept.
        path, name = path.parent, str(Path(own).parent)
    if not path.is_dir():
        raise SubtreeError(f"the gateway's cgroup {name} is not visible at {path} (is cgroup2 mounted there?)")
    # Only the hierarchy's real root has no cgroup.type (a container's namespace root has one).
    root = not (path / "cgroup.type").exists()
    kind = "domain" if root else (path / "cgroup.type").read_text().strip()
    if kind != "domain":
        raise SubtreeError(f"the gateway's cgroup {name} is a {kind!r} cgroup; sandboxes need a 'domain' one")
    # Delegation first: a cgroup systemd manages and did not delegate often lacks a controller
    # too (systemd enables in a slice only what its units ask for: no cpu in system.slice once
    # no unit there wants it), and the missing delegation is what the operator must fix.
    granted_by = _granted_by(path, name)
    available = set((path / "cgroup.controllers").read_text().split())
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        raise SubtreeError(
            f"the gateway's cgroup {name} has no {', '.join(missing)} controller "
            f"(its parent does not pass {'it' if len(missing) == 1 else 'them'} down): {_START_PROPERLY}"
        )
    for file in (path, path / "cgroup.procs", path / "cgroup.subtree_control"):
        if not os.access(file, os.W_OK):
            raise SubtreeError(
                f"{file} is not writable by uid {os.geteuid()}: the cgroup is not delegated to this user; "
                f"{_START_PROPERLY}"
            )
    others = () if root else tuple(pid for pid in _procs(path) if pid != os.getpid())
    return Subtree(path, name, granted_by, others, root)


def _granted_by(path: Path, name: str) -> str:
    """Why the gateway may use ``path``; SubtreeError when systemd manages it and did not delegate it."""
    marked = _xattr_delegated(path)
    if marked:
        return "delegated by systemd"
    if not systemd_manages():
        return "no systemd manages this cgroup tree"
    if marked is None and _systemctl_delegated(path.name):
        return "delegated by systemd"
    if os.geteuid() != 0 and path.stat().st_uid == os.geteuid():
        # systemd chowns a cgroup only to the User= of a unit it delegates to.
        return "owned by this user"
    raise SubtreeError(f"the gateway's cgroup {name} is managed by systemd and not delegated to it: {_START_PROPERLY}")
