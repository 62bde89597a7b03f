"""The suite does not depend on the caller's environment (AIRLOCK_* settings exported in a shell)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: What a developer who runs their own gateway might have exported: each would change the
#: test gateways' settings (an admin token makes every request UNAUTHENTICATED; a port or
#: data directory of their own would clash) or the CLI's target.
EXPORTED = {
    "AIRLOCK_ADMIN_TOKEN": "a-developers-admin-token",
    "AIRLOCK_INVOKER_TOKEN": "a-developers-invoker-token",
    "AIRLOCK_MAX_INFLIGHT": "1",
    "AIRLOCK_DATA_DIR": "/nonexistent/airlock",
    "AIRLOCK_TARGET": "127.0.0.1:1",
    "AIRLOCK_TOKEN": "a-developers-token",
}


def test_the_suite_ignores_the_callers_airlock_variables(tmp_path: Path) -> None:
    # A real pytest run, with the variables exported, of a test that invokes a function through
    # a gateway and one that drives the CLI against a served gateway.
    selected = [
        "tests/integration/test_invoke.py::test_events_arrive_in_order_with_contiguous_seq",
        "tests/integration/test_cli.py::test_put_list_get_and_delete_a_function",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'run'}", *selected],
        cwd=ROOT,
        env={**os.environ, **EXPORTED},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
