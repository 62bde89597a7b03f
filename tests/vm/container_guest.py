"""The container check's guest side: Docker, the image and the gateway, inside the VM.

Runs in the VM (``python -m tests.vm.container_guest``, started by container_check.py), as
root, with the plan (a JSON object, ``CONTAINER_PLAN``) the host made: the .debs, the base
tarball, the index URL and the ``docker run`` options read from docker-compose.yml. Each
step prints one line ``STEP {json}`` on stdout (name, seconds, verdict, detail) as it ends;
daemon and build logs go to stderr, which the host keeps. Nothing here is run on a host: it
unpacks packages into ``/``, which is the VM's throw-away overlay.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Debian's docker CLI. Not `docker` from PATH: the host's /usr/local/bin may hold another
#: client (the guest sees the host's /), which would then talk to this daemon.
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
DPKG_DEB = "/usr/bin/dpkg-deb"
TAR = "/bin/tar"
#: What daemons and their children find first: the packages just unpacked into /usr.
DAEMON_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
GATEWAY = "airlock-gateway"
LOGS = Path("/tmp/container-check")


class StepFailed(Exception):
    """A step's verdict is FAILED; the message is its detail."""


@dataclass
class Plan:
    """What the host hands the guest (container_check.py makes it)."""

    debs: list[str]
    compose_debs: list[str]
    base_tarball: str
    base_image: str
    base_changes: list[str]
    index_url: str
    trusted_host: str
    image: str
    project: str
    networks: list[str]
    run_options: list[str]
    emulation_options: list[str]
    tokens: dict[str, str]
    removals: list[dict[str, Any]]
    compose_env: dict[str, str]
    compose: bool
    keep_going: bool
    serving_seconds: float

    @classmethod
    def from_environment(cls) -> Plan:
        data: dict[str, Any] = json.loads(os.environ["CONTAINER_PLAN"])
        return cls(**data)


@dataclass
class Step:
    """One line of the report."""

    name: str
    verdict: str = "ok"
    detail: str = ""
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)


def emit(step: Step) -> None:
    record = {"name": step.name, "verdict": step.verdict, "detail": step.detail, "seconds": round(step.seconds, 1)}
    print("STEP " + json.dumps(record | {"facts": step.facts}), flush=True)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Runner:
    """Runs the steps in order; a failed prerequisite ends the run, a failed check may not."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.failed = False

    @contextmanager
    def step(self, name: str, *, required: bool = False) -> Iterator[Step]:
        step = Step(name)
        started = time.monotonic()
        log(f"=== {name}")
        try:
            yield step
        except StepFailed as e:
            step.verdict, step.detail = "FAILED", str(e)
        except Exception as e:  # noqa: BLE001 - any error of a step is its verdict, then the report goes on
            step.verdict, step.detail = "FAILED", f"{type(e).__name__}: {e}"
        step.seconds = time.monotonic() - started
        emit(step)
        if step.verdict == "FAILED":
            self.failed = True
            if required or not self.plan.keep_going:
                raise SystemExit(1)


def run(argv: list[str], *, timeout: float = 600, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run a command; its output (stdout and stderr together) goes to the log and is returned."""
    done = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
        env=env or guest_env(),
    )
    log(f"$ {' '.join(argv)[:300]}\n{done.stdout[-4000:]}")
    if check and done.returncode != 0:
        raise StepFailed(f"{' '.join(argv[:4])} exited {done.returncode}: {tail(done.stdout)}")
    return done.stdout


def guest_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{DAEMON_PATH}:{os.environ.get('PATH', '')}", "DOCKER_BUILDKIT": "0", **extra}


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def docker(*arguments: str, timeout: float = 600, check: bool = True) -> str:
    return run([DOCKER, *arguments], timeout=timeout, check=check)


def state(name: str) -> tuple[str, int, int]:
    """(status, restart count, exit code) of a container."""
    out = docker("inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name, timeout=120)
    status, restarts, code = out.split()
    return status, int(restarts), int(code)


def exec_health(name: str) -> tuple[int, str]:
    """``airlock health`` inside the container, as compose's health check runs it (docker exec)."""
    done = subprocess.run(
        [DOCKER, "exec", name, "airlock", "--target", "127.0.0.1:50051", "health"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=guest_env(),
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def client(*arguments: str, token: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The project's CLI from the repository (the guest's cwd), outside the container."""
    argv = [sys.executable, "-m", "gateway.cli", "--target", "127.0.0.1:50051", *arguments]
    env = guest_env(AIRLOCK_TOKEN=token, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    log(f"$ airlock {' '.join(arguments)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def invocation_result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``result`` line of ``airlock invoke --json``, or what the CLI said instead."""
    for line in done.stdout.splitlines():
        if line.startswith('{"result"'):
            result: dict[str, Any] = json.loads(line)["result"]
            return result
    return {"outcome": None, "error": tail(done.stderr or done.stdout), "exit": done.returncode}


# --- The steps ----------------------------------------------------------------------------------


def install(runner: Runner) -> None:
    with runner.step("install Docker from .debs", required=True) as step:
        debs = runner.plan.debs + (runner.plan.compose_debs if runner.plan.compose else [])
        for deb in debs:
            # Never `dpkg-deb -x ... /`: it replaces the /lib symlink of the merged /usr.
            unpack = subprocess.Popen([DPKG_DEB, "--fsys-tarfile", deb], stdout=subprocess.PIPE)
            extract = subprocess.run(
                [TAR, "-x", "--keep-directory-symlink", "-C", "/"], stdin=unpack.stdout, check=False, timeout=600
            )
            if unpack.wait() != 0 or extract.returncode != 0:
                raise StepFailed(f"unpacking {Path(deb).name} failed")
        Path("/var/lib/docker").mkdir(parents=True, exist_ok=True)
        # Images and layers in memory: the guest's root is an overlay over 9p, on which
        # overlay2 cannot stack its own layers.
        run(["mount", "-t", "tmpfs", "-o", "size=75%,mode=0711", "docker", "/var/lib/docker"])
        step.detail = f"{len(debs)} packages: {docker('--version').strip()}"


def start_dockerd(runner: Runner) -> None:
    with runner.step("start dockerd", required=True) as step:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / "dockerd.log").open("wb") as output:
            # Output to a file, never the command's pipes: a daemon holding them would keep
            # the VM up until its timeout. iptables off: the guest has no NAT to set up (the
            # build uses the VM's network directly); published ports go through docker-proxy.
            subprocess.Popen(
                [DOCKERD, "--iptables=false", "--storage-driver=overlay2"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=guest_env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = subprocess.run([DOCKER, "info"], capture_output=True, text=True, check=False, env=guest_env())
            if done.returncode == 0:
                facts = {
                    key: value.strip()
                    for line in done.stdout.splitlines()
                    if ":" in line
                    for key, value in [line.strip().split(":", 1)]
                    if key in ("Server Version", "Storage Driver", "Cgroup Driver", "Cgroup Version")
                }
                step.facts = facts
                step.detail = ", ".join(f"{k} {v}" for k, v in facts.items())
                if facts.get("Cgroup Version") != "2":
                    raise StepFailed(f"Docker does not run on cgroup v2: {step.detail}")
                return
            time.sleep(1)
        raise StepFailed(f"dockerd did not answer in 300 s: {tail((LOGS / 'dockerd.log').read_text())}")


def import_base(runner: Runner) -> None:
    plan = runner.plan
    with runner.step(f"docker import {plan.base_image}", required=True) as step:
        changes = [part for change in plan.base_changes for part in ("--change", change)]
        docker("import", *changes, plan.base_tarball, plan.base_image, timeout=1200)
        version = docker("run", "--rm", "--network", "none", plan.base_image, "python", "--version").strip()
        step.detail = f"{plan.base_image}: {version}"


def build(runner: Runner) -> None:
    plan = runner.plan
    with runner.step(f"docker build -t {plan.image}", required=True) as step:
        # --network host: the build's RUN steps use the VM's network (apt reaches Debian's
        # mirror, pip the host's index at 10.0.2.2) without NAT, which iptables=false omits.
        argv = ["build", "--network", "host", "-t", plan.image]
        for name, value in (("PIP_INDEX_URL", plan.index_url), ("PIP_TRUSTED_HOST", plan.trusted_host)):
            argv += ["--build-arg", f"{name}={value}"]
        out = docker(*argv, ".", timeout=5400)
        built = [line for line in out.splitlines() if line.startswith(("runtime ", "Successfully built"))]
        step.detail = "; ".join(built)
        step.facts["image_size"] = docker("image", "inspect", "-f", "{{.Size}}", plan.image).strip()


def options_for(plan: Plan, run_options: list[str]) -> list[str]:
    return [*run_options, plan.image]


def start_gateway(plan: Plan, name: str, run_options: list[str]) -> None:
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, *options_for(plan, run_options), timeout=300)


def serve_with_health_checks(runner: Runner) -> None:
    """The gateway starts while `docker exec ... airlock health` runs every 0.5 s."""
    plan = runner.plan
    with runner.step("docker run + docker exec health checks during start-up", required=not plan.keep_going) as step:
        for network in plan.networks:
            docker("network", "create", network, check=False)
        started = time.monotonic()
        start_gateway(plan, GATEWAY, plan.run_options)
        checks: list[tuple[float, int, str]] = []
        deadline = started + plan.serving_seconds
        while time.monotonic() < deadline:
            code, said = exec_health(GATEWAY)
            checks.append((round(time.monotonic() - started, 1), code, said[-200:]))
            status, restarts, exit_code = state(GATEWAY)
            if status != "running" or restarts:
                raise StepFailed(
                    f"the container died during start-up ({status}, {restarts} restarts, exit {exit_code}) "
                    f"after {len(checks)} checks; logs: {tail(docker('logs', GATEWAY, check=False), 10)}"
                )
            if code == 0 and said == "SERVING":
                break
            time.sleep(0.5)
        else:
            raise StepFailed(f"not SERVING after {plan.serving_seconds:g} s; last checks: {checks[-3:]}")
        step.facts = {"checks": checks, "emulation_options": plan.emulation_options}
        step.detail = (
            f"SERVING {checks[-1][0]:.0f} s after docker run, {len(checks)} health checks by docker exec, "
            f"none disturbed the start; answers seen: {sorted({c[2][:60] for c in checks})}"
        )


def doctor(runner: Runner) -> None:
    with runner.step("docker exec airlock doctor") as step:
        out = docker("exec", GATEWAY, "airlock", "doctor", check=False, timeout=600)
        step.detail = tail(out, 12)
        wanted = {
            "user namespaces": r"user namespaces:\s+available",
            "Landlock ABI 2": r"landlock:\s+ABI [2-9]",
            "seccomp": r"seccomp:\s+available",
            "cgroups v2": r"cgroups:\s+v2",
            "default profile": r"default: can run",
        }
        missing = [name for name, pattern in wanted.items() if not re.search(pattern, out)]
        if missing:
            raise StepFailed(f"doctor lacks {missing}: {step.detail}")


def invocations(runner: Runner) -> None:
    tokens = runner.plan.tokens
    with runner.step("register + invoke through 127.0.0.1:50051 (OK, MEMORY_LIMIT)") as step:
        put = client("put", "tests/threats/plugins/exhaust.py", token=tokens["admin"])
        if put.returncode != 0:
            raise StepFailed(f"airlock put failed ({put.returncode}): {tail(put.stderr or put.stdout)}")
        seen = []
        for attack, expected in (("benign", "OK"), ("touch_pages", "MEMORY_LIMIT")):
            begun = time.monotonic()
            body = json.dumps({"attack": attack})
            done = client("invoke", "exhaust", "--json", "--body", body, token=tokens["invoker"])
            result = invocation_result(done)
            seen.append(f"{attack}: {result.get('outcome')} ({time.monotonic() - begun:.0f} s)")
            step.facts[attack] = {k: result.get(k) for k in ("outcome", "error_type", "error", "usage")}
            if result.get("outcome") != expected:
                raise StepFailed(f"{attack}: {result} (wanted {expected})")
        step.detail = "; ".join(seen)


def stop(runner: Runner, name: str = GATEWAY) -> None:
    with runner.step("docker stop (SIGTERM drains)") as step:
        docker("stop", name, timeout=300)
        status, _, code = state(name)
        step.detail = f"{status}, exit {code}; last log lines: {tail(docker('logs', name, check=False), 3)}"
        if code != 0:
            raise StepFailed(f"the gateway exited {code} on SIGTERM; {step.detail}")
        docker("rm", name)


def removal(runner: Runner, removed: dict[str, Any]) -> None:
    """Run with one documented option removed and record exactly what happens."""
    plan = runner.plan
    name = f"airlock-without-{re.sub(r'[^a-z0-9]+', '-', removed['value'].lower()).strip('-')}"
    with runner.step(f"without {removed['key']}: {removed['value']}") as step:
        started = time.monotonic()
        start_gateway(plan, name, removed["run_options"])
        observed: list[str] = []
        messages: list[str] = []
        serving = False
        deadline = started + plan.serving_seconds
        while time.monotonic() < deadline:
            status, restarts, code = state(name)
            if status != "running" or restarts:
                observed.append(f"the container stopped ({status}, exit {code}, {restarts} restarts)")
                break
            code, said = exec_health(name)
            if code == 0 and said == "SERVING":
                serving = True
                observed.append(f"SERVING after {time.monotonic() - started:.0f} s")
                break
            time.sleep(2)
        else:
            observed.append(f"neither serving nor stopped after {plan.serving_seconds:g} s")
        result: dict[str, Any] = {}
        if serving:
            # Registering loads the source in a sandbox: the first place a missing option shows.
            put = client("put", "tests/threats/plugins/exhaust.py", token=plan.tokens["admin"])
            messages.append(put.stderr + put.stdout)
            observed.append(f"airlock put: exit {put.returncode}: {tail(put.stderr or put.stdout, 2)}")
            body = json.dumps({"attack": "benign"})
            done = client("invoke", "exhaust", "--json", "--body", body, token=plan.tokens["invoker"])
            result = invocation_result(done)
            messages.append(json.dumps(result))
            observed.append(f"invocation: {result.get('outcome')}: {result.get('error_type')}: {result.get('error')}")
        logs = docker("logs", name, check=False)
        errors = [line for line in logs.splitlines() if re.search(removed["expected"], line)]
        step.facts = {"observed": observed, "result": result, "log_lines": errors[-3:], "logs_tail": tail(logs, 8)}
        docker("rm", "-f", name, check=False)
        step.detail = "; ".join(observed) + (f"; log: {errors[-1][:400]}" if errors else "")
        ran_unconfined = result.get("outcome") == "OK"
        if ran_unconfined:
            raise StepFailed(f"NOT fail-closed: the invocation ran. {step.detail}")
        message = " ".join([*messages, *errors])
        if not re.search(removed["expected"], message):
            documented = f"/{removed['expected']}/"
            raise StepFailed(f"failed closed, but not with the documented message {documented}: {step.detail}")
        step.verdict = "fails closed"


def compose(runner: Runner) -> None:
    """The gateway service through Debian's docker-compose (v1), with the image just built."""
    plan = runner.plan
    with runner.step("docker-compose up gateway (Debian's compose v1, --no-build)") as step:
        env = guest_env(**plan.compose_env)
        argv = ["docker-compose", "-p", plan.project, "-f", "docker-compose.yml"]
        version = run([*argv[:1], "version", "--short"], check=False, env=env).strip()
        out = run([*argv, "up", "-d", "--no-build", "gateway"], check=False, env=env, timeout=900)
        step.facts = {"version": version, "up": tail(out, 8)}
        if "is invalid because" in out:
            # Compose v1 predates keys the file uses (name, cgroup, create_host_path): a limit
            # of what this machine can install, not a failure of the project. Said, not hidden.
            refused = [line for line in out.splitlines() if re.search(r"[Uu]nsupported|does not match", line)]
            step.verdict = "not run"
            step.detail = f"docker-compose {version} refuses the file: {' | '.join(refused)}"
            return
        label = f"label=com.docker.compose.project={plan.project}"
        containers = docker("ps", "-a", "--filter", label, "--format", "{{.Names}}")
        name = containers.split()[0] if containers.split() else ""
        deadline = time.monotonic() + plan.serving_seconds
        said = ""
        while name and time.monotonic() < deadline:
            _, said = exec_health(name)
            if said == "SERVING":
                break
            time.sleep(2)
        run([*argv, "down"], check=False, env=env, timeout=600)
        step.detail = f"compose {version}: {name or 'no container'}: {said or tail(out, 3)}"
        if said != "SERVING":
            raise StepFailed(step.detail)


def dump_logs() -> None:
    for path in sorted(LOGS.glob("*.log")):
        log(f"=== {path}\n{path.read_text(errors='replace')[-20000:]}")


def main() -> int:
    plan = Plan.from_environment()
    runner = Runner(plan)
    steps: list[Callable[[Runner], None]] = [install, start_dockerd, import_base, build, serve_with_health_checks]
    steps += [doctor, invocations, stop]
    try:
        for do in steps:
            do(runner)
        for removed in plan.removals:
            removal(runner, removed)
        if plan.compose:
            compose(runner)
    except SystemExit:
        pass
    finally:
        dump_logs()
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
