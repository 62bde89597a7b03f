"""Whether this host can give a sandbox its egress loopback (runs as a throwaway probe process).

Started by the gateway's host probe (``airlock doctor`` too) as a fresh interpreter, never
a fork of the gateway. It does what a sandbox's PID 1 does for ``network = "egress"``, in
namespaces of its own: unshare a user and a network namespace, bring the loopback up, add
an address to it, bind a privileged port, and connect through it. Exit status 0 means
egress sandboxes can be built here; otherwise the status is the errno of the failed step.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from typing import Any, NoReturn

from runner.confine import network, syscalls

#: What the probe sets up: a listener on a name's address and on an added literal address.
PLAN = {
    "aliases": ["192.0.2.1"],
    "listeners": [
        {"entry": "probe.invalid:443", "address": "127.0.0.2", "port": 443},
        {"entry": "192.0.2.1:80", "address": "192.0.2.1", "port": 80},
    ],
}


def main(config: dict[str, Any]) -> NoReturn:
    """Run the probe; exit with 0 or the errno of the step that failed."""
    del config
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        listeners = network.bring_up(PLAN)
        for listener, _ in listeners:
            address, port = listener.getsockname()[:2]
            with socket.create_connection((address, port), timeout=2):
                listener.setblocking(True)
                listener.accept()[0].close()
    except OSError as exc:
        print(f"egress probe: {exc}", file=sys.stderr)  # noqa: T201 - the gateway reads it
        os._exit(exc.errno or 1)
    os._exit(0)
