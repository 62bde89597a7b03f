"""The confinement sequence, in order (runs in the sandbox).

Nothing the plugin controls runs until every step has completed; each step's failure
stops the worker. The order matters:

1. move into the sandbox's cgroups (created by the gateway, which checks the move once the
   worker is ready), die with the gateway;
2. copy the runtime's mounts (read-only, detached) while still privileged; drop to a uid
   that is not the gateway's, and as that uid unshare user, mount, net, ipc, uts, cgroup
   and pid namespaces; fork PID 1 of the new pid namespace;
3. PID 1 builds the root filesystem (read-only binds, limited /tmp, minimal /dev, fresh
   /proc), pivots into it, sets the hostname, configures the loopback and binds the egress
   listeners (network = "egress" only), drops every capability, sets no_new_privs, forks
   PID 2 and becomes the reaper;
4. PID 2: rlimits (it inherited no capabilities and no_new_privs);
5. Landlock (needs no_new_privs, restricts the filesystem further);
6. seccomp last, because it forbids the very syscalls the steps above use (mount,
   unshare, prctl variants, landlock) — installed from a program the gateway compiled.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Callable
from typing import Any

from runner import limits
from runner.confine import filesystem, landlock, namespaces, network, privileges, processes, syscalls
from runner.forwarder import Forwarder


def confine(config: dict[str, Any], keep_fds: tuple[int, ...], request_maps: Callable[[], None]) -> Forwarder | None:
    """Confine this worker; returns only in PID 2, fully confined.

    Returns the egress forwarder (not started) for network = "egress", else None.
    """
    gateway = int(config["gateway_pid"])
    # Into the sandbox's cgroups before anything else: every process the sandbox will
    # ever have descends from this one.
    for procs in config["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write("0")
    processes.die_with_parent(gateway)
    binds = list(config["binds"])
    site = config.get("site")
    egress = config.get("egress")
    elsewhere = {os.path.dirname(egress["relay_socket"]): egress["relay_dir"]} if egress else {}
    if os.geteuid() == 0:
        # Detached copies of the runtime, made while root can still read everything.
        sources = filesystem.Sources.open(binds, detached=True, site=site, elsewhere=elsewhere)
        namespaces.enter(list(config["namespaces"]), int(config["uid"]), int(config["gid"]), request_maps)
    else:
        namespaces.enter(list(config["namespaces"]), int(config["uid"]), int(config["gid"]), request_maps)
        # Opened inside the new mount namespace, whose bind sources must belong to it.
        sources = filesystem.Sources.open(binds, detached=False, site=site, elsewhere=elsewhere)
        namespaces.become_sandbox_user()
    # The kernel clears the death signal whenever credentials change: ask again.
    processes.die_with_parent(gateway)
    pid1 = os.fork()
    if pid1:
        processes.wait_and_relay(pid1)
    # The worker is outside the new pid namespace, so PID 1 sees its parent as pid 0.
    processes.die_with_parent(0)
    files = dict(egress["files"]) if egress else {}
    filesystem.build_root(sources, int(config["tmp_size_mib"]), int(config["tmp_inodes"]), files)
    sources.close()
    if "uts" in config["namespaces"]:
        syscalls.sethostname(str(config["hostname"]))
    # While PID 1 still holds CAP_NET_ADMIN and CAP_NET_BIND_SERVICE over its own network
    # namespace; PID 2 inherits the listeners, PID 1 closes its copies when it starts reaping.
    listeners = network.bring_up(egress) if egress else []
    # PID 1 needs no privilege to reap; PID 2 inherits the empty sets and no_new_privs.
    privileges.drop_capabilities()
    privileges.set_no_new_privs()
    pid2 = os.fork()
    if pid2:
        processes.reap_until(pid2)
    processes.die_with_parent(1)
    ports = tuple(int(listener["port"]) for listener in egress["listeners"]) if egress else ()
    _confine_plugin_process(config, (*keep_fds, *(sock.fileno() for sock, _ in listeners)), ports)
    if not egress:
        return None
    return Forwarder(listeners, str(egress["relay_socket"]), int(egress["max_connections"]))


def _confine_plugin_process(config: dict[str, Any], keep_fds: tuple[int, ...], connect_ports: tuple[int, ...]) -> None:
    os.chdir("/tmp")
    limits.apply(config["limits"])
    site = config.get("site")
    # Writable for Landlock too only in the installer, whose output it is.
    writable = ("/tmp", filesystem.SITE) if site is not None and site["writable"] else ("/tmp",)
    landlock.restrict(required=config["landlock"] == "required", writable=writable, connect_ports=connect_ports)
    _close_other_fds(keep_fds)
    syscalls.install_seccomp(base64.b64decode(config["seccomp_bpf"]))


def _close_other_fds(keep: tuple[int, ...]) -> None:
    for fd in sorted(int(name) for name in os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):  # the descriptor listdir itself used
                os.close(fd)
