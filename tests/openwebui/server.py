"""A real Open WebUI server on 127.0.0.1, started offline from the cached venv.

``running_openwebui(venv, data_dir)`` starts ``open-webui serve`` in a process group of its
own, with a fresh data directory (also its working directory: Open WebUI writes relative
paths there), waits for ``GET /ready``, signs the first user up (Open WebUI makes the first
signup the admin) and yields an ``OpenWebUI`` with the URL and the admin's token. Leaving
the block stops the whole group: SIGTERM, then SIGKILL if it lingers.

Offline means no model download and no outside connection: the embedding and speech
engines are set to ``openai`` (the local embedding model loads only when the engine is
empty) and the Ollama and OpenAI connections are disabled, so the only models are the Pipe
functions a test creates.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

#: A fixed secret: without one Open WebUI writes a random ``.webui_secret_key`` into its cwd.
SECRET_KEY = "airlock-tests-openwebui-secret"
ADMIN_NAME = "Admin"
ADMIN_EMAIL = "admin@airlock.test"
#: Passwords are only checked for length by default; a strong-looking one keeps it so.
PASSWORD = "Airlock-tests-1"

#: The environment the issue found necessary to start 0.12.4 offline (see the module docstring).
OFFLINE_ENV: Mapping[str, str] = {
    "USE_SLIM_DOCKER": "true",
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "RAG_EMBEDDING_ENGINE": "openai",
    "AUDIO_STT_ENGINE": "openai",
    "ENABLE_OLLAMA_API": "false",
    "ENABLE_OPENAI_API": "false",
    "WEBUI_SECRET_KEY": SECRET_KEY,
}

#: Variables of the caller that would change which Python code the server runs.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class OpenWebUIStartError(RuntimeError):
    """The server exited or did not become ready; the message ends with its log's tail."""


@dataclass(frozen=True)
class OpenWebUI:
    """A running Open WebUI server and its admin."""

    url: str
    """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
    admin_token: str
    """Bearer token of the first user, the admin."""
    admin_id: str
    data_dir: Path
    log_path: Path
    pid: int
    startup_seconds: float
    """From spawning the process to ``/ready`` answering 200."""

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's log."""
        return _tail(self.log_path, lines)


@contextmanager
def running_openwebui(
    venv: Path,
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
) -> Iterator[OpenWebUI]:
    """Run ``<venv>/bin/open-webui serve`` on a free port with ``data_dir`` as its data.

    ``env`` adds variables (e.g. ``AIRLOCK_TOKEN`` for a bridge), overriding the offline
    ones. ``data_dir`` should be empty: the first signup becomes the admin only on a new
    database.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "open-webui.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process_env = {name: value for name, value in os.environ.items() if name not in _LEAKY_VARIABLES}
    process_env.update(OFFLINE_ENV)
    process_env.update(
        {
            "DATA_DIR": str(data_dir),
            # Scripts and pip of the server's own venv first (frontmatter requirements).
            "PATH": f"{venv / 'bin'}{os.pathsep}{process_env.get('PATH', '')}",
        }
    )
    process_env.update(env or {})
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=data_dir,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own group: uvicorn may fork workers, and stopping must reach them all.
            start_new_session=True,
        )
    try:
        _wait_ready(process, url, log_path, ready_timeout)
        startup_seconds = time.monotonic() - started
        admin_id, admin_token = _sign_up_admin(url)
        yield OpenWebUI(
            url=url,
            admin_token=admin_token,
            admin_id=admin_id,
            data_dir=data_dir,
            log_path=log_path,
            pid=process.pid,
            startup_seconds=startup_seconds,
        )
    finally:
        _stop(process)


def _free_port() -> int:
    # A small race (another process may take the port before the server binds it) that
    # cannot be closed from outside: `open-webui serve` takes a port number, not a socket.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5.0) as client:
        while True:
            code = process.poll()
            if code is not None:
                raise OpenWebUIStartError(f"open-webui exited with {code} before it was ready:\n{_tail(log_path)}")
            try:
                if client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise OpenWebUIStartError(f"open-webui not ready after {timeout:.0f} s at {url}:\n{_tail(log_path)}")
            time.sleep(0.25)


def _sign_up_admin(url: str) -> tuple[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auths/signup",
        json={"name": ADMIN_NAME, "email": ADMIN_EMAIL, "password": PASSWORD},
        timeout=30.0,
    )
    if response.status_code != 200:
        raise OpenWebUIStartError(f"signing the admin up failed: {response.status_code} {response.text}")
    body = response.json()
    if body.get("role") != "admin":
        raise OpenWebUIStartError(f"the first signup is not the admin (not a new database?): {body}")
    return str(body["id"]), str(body["token"])


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the group, SIGKILL to it after ``grace`` seconds."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # The leader may be gone while children of it linger in the group.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # ProcessLookupError: the group is empty, everything has exited.
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
