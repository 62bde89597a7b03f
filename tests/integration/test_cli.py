"""The ``airlock`` command line as a person or a script runs it.

A real ``airlock serve`` subprocess on port 0, and client commands as subprocesses: exit
statuses, stdout/stderr contents and signals are what is under test, so nothing is mocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.profiles.loader import shipped_profiles_dir

AIRLOCK = str(Path(sys.executable).parent / "airlock")
LISTENING = "airlock listening on "

pytestmark = pytest.mark.timeout(60)

GREETER = '''"""
title: Greeter
"""
from pydantic import BaseModel

class Action:
    class Valves(BaseModel):
        priority: int = 0
        greeting: str = "Hello"

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__=None, __event_emitter__=None, __event_call__=None):
        await __event_emitter__({"type": "status", "data": {"description": "working", "done": False}})
        await __event_emitter__({"type": "chat:message:delta", "data": {"content": "Hel"}})
        await __event_emitter__({"type": "chat:message:delta", "data": {"content": "lo"}})
        await __event_emitter__({"type": "notification", "data": {"type": "info", "content": "almost"}})
        ok = await __event_call__({"type": "confirmation", "data": {"title": "Go?", "message": "Sure?"}})
        name = await __event_call__({"type": "input", "data": {"title": "Name", "message": "Your name"}})
        print("printed by the plugin")
        return {"ok": ok, "text": f"{self.valves.greeting} {name}"}
'''

#: An action whose button order is set by its priority valve; {actions} may add sub-actions.
RANKED = """
from pydantic import BaseModel

class Action:
    {actions}
    class Valves(BaseModel):
        priority: int = 0

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body):
        return None
"""

FAILING = """
class Action:
    async def action(self, body):
        raise ValueError("boom")
"""

SLEEPER = """
import asyncio

class Action:
    async def action(self, body, __event_emitter__=None):
        await __event_emitter__({"type": "status", "data": {"description": "sleeping", "done": False}})
        await asyncio.sleep(30)
        return "woke up"
"""


def airlock(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion; stdin is not a terminal, so it never prompts."""
    return subprocess.run(
        [AIRLOCK, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )


@dataclass
class Served:
    """A running ``airlock serve`` and where it logs."""

    process: subprocess.Popen[str]
    target: str
    log: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A client command against this gateway."""
        return airlock("--target", self.target, *args)

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> int:
        """Signal the gateway and wait; kill it if it does not exit (then fail)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"airlock serve ignored {signum.name}:\n{self.log.read_text()}")
        assert self.process.stdout is not None
        self.process.stdout.close()
        return self.process.returncode


@contextlib.contextmanager
def serving(tmp_path: Path, profiles_dir: Path, *options: str) -> Iterator[Served]:
    """Start ``airlock serve`` on port 0 (plus ``options``); whatever happens, it is stopped afterwards."""
    log = tmp_path / "serve.log"
    argv = [
        AIRLOCK,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    argv += ["--profiles", str(profiles_dir), "--log-format", "json", *options]
    with log.open("w") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    served = Served(process, "", log)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(LISTENING), f"no listening line ({line!r}):\n{log.read_text()}"
        served.target = line.removeprefix(LISTENING).strip()
        yield served
    finally:
        served.stop()


@pytest.fixture
def server(tmp_path: Path, profiles_dir: Path) -> Iterator[Served]:
    with serving(tmp_path, profiles_dir) as served:
        yield served
    assert served.process.returncode == 0, served.log.read_text()


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


def put(server: Served, path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    done = server.run("put", str(path), *options)
    assert done.returncode == 0, done.stderr
    return done


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def test_put_list_get_and_delete_a_function(server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "greeter", GREETER)
    done = put(server, path, "--model", "m1")
    sha = hashlib.sha256(GREETER.encode()).hexdigest()
    assert done.stdout.splitlines() == [f'greeter  action  "Greeter"  sha256:{sha[:12]}', "  buttons: greeter"]

    table = server.run("functions").stdout.splitlines()
    assert table[0].split() == ["ID", "KIND", "NAME", "ACTIVE", "GLOBAL", "PRIORITY", "PROFILE"]
    assert table[1].split() == ["greeter", "action", "Greeter", "yes", "no", "0", "default"]
    (record,) = json_lines(server.run("functions", "--json").stdout)
    assert record["id"] == "greeter"
    assert record["sha256"] == sha
    assert record["model_ids"] == ["m1"]
    assert "source" not in record

    details = server.run("get", "greeter").stdout.splitlines()
    assert "name:        Greeter" in details
    assert f"sha256:      {sha}" in details
    assert server.run("get", "greeter", "--source").stdout == GREETER

    assert server.run("delete", "greeter").stdout == "deleted greeter\n"
    gone = server.run("get", "greeter")
    assert gone.returncode == 2
    assert gone.stderr.startswith("airlock: NOT_FOUND: ")


def test_actions_lists_a_models_buttons_in_display_order(server: Served, tmp_path: Path) -> None:
    plain = write(tmp_path, "ranked", RANKED.format(actions=""))
    multi = write(tmp_path, "multi", RANKED.format(actions='actions = [{"id": "one", "name": "One"}, {"id": "two"}]'))
    put(server, plain, "--id", "zeta", "--model", "m1", "--valves", '{"priority": 1}')
    put(server, plain, "--id", "alpha", "--global", "--valves", '{"priority": 5}')
    put(server, multi, "--model", "m1")
    put(server, plain, "--id", "off", "--model", "m1", "--inactive")

    table = server.run("actions", "--model", "m1").stdout.splitlines()
    assert [row.split()[0] for row in table] == ["ID", "multi.one", "multi.two", "zeta", "alpha"]
    buttons = json_lines(server.run("actions", "--model", "m1", "--json").stdout)
    assert [(b["id"], b["name"], b["priority"]) for b in buttons] == [
        ("multi.one", "One", 0),
        ("multi.two", "multi (two)", 0),  # Open WebUI's name for a sub-action without one
        ("zeta", "zeta", 1),
        ("alpha", "alpha", 5),
    ]


def test_valves_are_replaced_and_invalid_ones_rejected(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "greeter", GREETER))
    done = server.run("valves", "greeter", '{"greeting": "Hi"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["greeting"] == "Hi"

    rejected = server.run("valves", "greeter", '{"priority": "high"}')
    assert rejected.returncode == 2
    assert rejected.stderr.startswith("airlock: INVALID_ARGUMENT: ")
    assert "priority" in rejected.stderr

    valves_file = tmp_path / "valves.json"
    valves_file.write_text('{"greeting": ')
    not_json = server.run("valves", "greeter", f"@{valves_file}")
    assert not_json.returncode == 2
    assert "Invalid value for 'JSON|@FILE': not valid JSON" in not_json.stderr


def test_invoke_prints_events_answers_calls_from_flags_and_prints_the_value(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "greeter", GREETER), "--valves", '{"greeting": "Hi"}')
    done = server.run("invoke", "greeter", "--yes", "--input", "Bob")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == ["· working", "Hello", "[info] almost"]
    assert lines[-1] == '{"ok":true,"text":"Hi Bob"}'
    assert "--- output of the function ---\nprinted by the plugin\n" in done.stderr


def test_invoke_refuses_calls_it_has_no_answer_for(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "greeter", GREETER))
    done = server.run("invoke", "greeter")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"ok": False, "text": "Hello False"}
    assert "(give one with --yes or --no); replying false" in done.stderr
    assert "(give one with --input TEXT, once per input call); replying false" in done.stderr


def test_invoke_json_prints_every_message_as_a_json_line(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "greeter", GREETER))
    done = server.run("invoke", "greeter", "--json", "--no", "--input", "Ann", "--body", '{"chat_id": "c1"}')
    assert done.returncode == 0, done.stderr
    messages = json_lines(done.stdout)
    assert [next(iter(m)) for m in messages] == ["started"] + ["event"] * 4 + ["call"] * 2 + ["result"]
    assert messages[0]["started"]["function_id"] == "greeter"
    steps = [m.get("event") or m.get("call") for m in messages[1:-1]]
    assert [step["seq"] for step in steps] == list(range(1, len(steps) + 1))
    assert steps[0] == {"seq": 1, "type": "status", "data": {"description": "working", "done": False}}
    assert [step["type"] for step in steps[4:]] == ["confirmation", "input"]
    result = messages[-1]["result"]
    assert result["outcome"] == "OK"
    assert result["value"] == {"ok": False, "text": "Hello Ann"}
    assert result["output"] == "printed by the plugin\n"


def test_invoke_exits_1_when_the_action_raises(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "failing", FAILING))
    done = server.run("invoke", "failing")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("FUNCTION_ERROR: ValueError: boom\n")
    assert 'raise ValueError("boom")' in done.stderr  # the plugin's traceback follows


def test_invoke_of_an_unknown_action_exits_2_not_found(server: Served) -> None:
    done = server.run("invoke", "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("airlock: NOT_FOUND: ")
    assert "nope" in done.stderr


def test_ctrl_c_cancels_the_invocation_and_prints_the_cancelled_result(server: Served, tmp_path: Path) -> None:
    put(server, write(tmp_path, "sleeper", SLEEPER))
    with subprocess.Popen(
        [AIRLOCK, "--target", server.target, "invoke", "sleeper"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as invocation:
        try:
            assert invocation.stdout is not None
            assert invocation.stdout.readline() == "· sleeping\n"  # the action is running now
            invocation.send_signal(signal.SIGINT)
            stdout, stderr = invocation.communicate(timeout=20)
        finally:
            if invocation.poll() is None:
                invocation.kill()
    assert invocation.returncode == 3, stderr
    assert stdout == ""
    assert "airlock: cancelling" in stderr
    assert "\nCANCELLED: " in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on(signum: signal.Signals, tmp_path: Path, profiles_dir: Path) -> None:
    with serving(tmp_path, profiles_dir) as served:
        assert served.run("functions").returncode == 0
        assert served.stop(signum) == 0
    assert '"event": "gateway_stopped"' in served.log.read_text()


def test_serve_refuses_an_invalid_profiles_directory(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "default.toml").write_text('wall_seconds = "long"\n')
    done = airlock(
        "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), "--profiles", str(profiles)
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"airlock: {profiles / 'default.toml'}:1: wall_seconds: ")

    missing = airlock("serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), "--profiles", "nowhere")
    assert missing.returncode == 2
    assert "airlock: nowhere: not a directory of profiles" in missing.stderr


def test_serve_refuses_a_busy_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = airlock("serve", "--listen", address, "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 2
    assert f"airlock: cannot listen on {address}" in done.stderr


def test_an_unreachable_target_is_named(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{probe.getsockname()[1]}"
    done = airlock("--target", target, "functions")
    assert done.returncode == 2
    assert done.stderr.startswith(f"airlock: UNAVAILABLE: cannot reach the gateway at {target} ")


def test_invalid_json_in_an_option_is_a_usage_error_naming_it() -> None:
    # Rejected while parsing arguments, before any connection is attempted.
    done = airlock("--target", "127.0.0.1:1", "invoke", "x", "--body", "{")
    assert done.returncode == 2
    assert "Invalid value for '--body': not valid JSON" in done.stderr
    not_object = airlock("--target", "127.0.0.1:1", "invoke", "x", "--user", "[1]")
    assert not_object.returncode == 2
    assert "Invalid value for '--user': must be a JSON object, got list" in not_object.stderr


def test_python_dash_m_runs_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("airlock, version ")


def test_doctor_reports_every_layer_and_profile() -> None:
    done = airlock("doctor")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "user namespaces: available"
    assert lines[1].startswith("landlock:        ABI ")
    assert lines[2] == "seccomp:         available"
    assert lines[3].startswith("cgroups:         v")
    assert lines[4] == "network egress:  available"
    assert "  default: can run" in lines
    assert "  strict: can run" in lines
    assert "  networked: can run" in lines


def test_profiles_check_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text('description = "x"\ncpu_seconds = 0\n')
    (tmp_path / "good.toml").write_text("wall_seconds = 3\n")
    done = airlock("profiles", "check", str(tmp_path))
    assert done.returncode == 1
    assert f"{tmp_path / 'default.toml'}:2: cpu_seconds: Input should be greater than or equal to 1" in done.stderr
    assert f"{tmp_path / 'good.toml'}: ok" in done.stdout
    shipped = airlock("profiles", "check", str(shipped_profiles_dir()))
    assert shipped.returncode == 0, shipped.stderr
