"""The container, for real: the project's image built and run on a cgroup-v2 kernel.

``python -m tests.vm.container_check`` (from the repository's root, about 40 minutes: too
slow for every CI run; docs/OPERATIONS.md keeps its last result). In one VM boot
(tests/vm/machine.py, QEMU without KVM, so everything runs ~20x slower than on a host):

1. Debian's docker.io 20.10 is unpacked into the guest's throw-away root and started
   (``dockerd --iptables=false``, /var/lib/docker on tmpfs, AppArmor off: ``apparmor=0``);
2. ``python:3.11-slim-bookworm`` is imported from a local root (debootstrap minbase plus
   this host's own Python 3.11), since no registry is reachable from this machine;
3. ``docker build`` builds the Dockerfile unchanged but for the mirror arguments: apt
   reaches Debian's mirror, pip a package index this process serves on the host's loopback
   (the VM's 10.0.2.2) with every wheel the image installs (container_assets.py);
4. the image runs with exactly the options docker-compose.yml's gateway service documents,
   read from the file (compose_run.py), while ``docker exec ... airlock health`` runs every
   0.5 s until SERVING; then ``airlock doctor`` in the container, and a function registered
   and invoked through the published port from outside (an OK and a MEMORY_LIMIT verdict);
   ``docker stop``;
5. the image runs again without one documented option at a time (``--remove``): it must
   fail closed (no invocation runs) with the failure its comment documents;
6. the gateway service through Debian's docker-compose (v1; ``--no-compose`` skips it).

Prints one line per step (seconds, verdict, what was seen) and exits 1 when any step
failed. The guest's whole output (build, daemon and gateway logs) is kept in
``~/.cache/airlock-vm/docker/logs/last/``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.vm import compose_run, container_assets
from tests.vm.compose_run import Removal
from tests.vm.machine import REPO, VMError, VMTimeout, run

PROJECT = "airlock"
IMAGE = "airlock:local"
#: The host's 127.0.0.1 as QEMU's user-mode network shows it to the guest.
HOST_FROM_GUEST = "10.0.2.2"

#: The failure "Without it: ..." each comment in docker-compose.yml documents: EPERM from a
#: sandbox's start (open_tree, pivot_root, the sandbox's own /proc mount).
_EPERM = r"EPERM|\[Errno 1\]|Operation not permitted"

#: Options whose comment promises a failure without them, by the value named on the command line.
REMOVALS = {
    "systempaths=unconfined": Removal("security_opt", "systempaths=unconfined", _EPERM),
    "SYS_ADMIN": Removal("cap_add", "SYS_ADMIN", _EPERM),
    "seccomp=unconfined": Removal("security_opt", "seccomp=unconfined", _EPERM),
}


#: What the emulated machine needs beyond the compose options, and nothing else: under QEMU's
#: TCG a process runs ~20x slower, and a zygote importing the default runtime (Open WebUI's
#: 187 packages) does not say ready within its fixed 30 s (gateway/sandbox/zygote.py). The
#: shipped profiles are mounted with the same isolation but spawned workers ("fresh"), no
#: warm pool, and start/inspect/wall limits sized for the emulator (as tests/vm/guest does).
SLOW_MACHINE = {
    "mode": '"fresh"',
    "warm_pool_size": "0",
    "start_timeout_seconds": "300",
    "inspect_timeout_seconds": "300",
    "wall_seconds": "120",
}
PROFILES_IN_CONTAINER = "/etc/airlock/profiles"


def slow_profiles() -> Path:
    """The repository's profiles (and runtime locks) with SLOW_MACHINE's values, in the cache."""
    directory = container_assets.docker_cache() / "profiles-slow-machine"
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(REPO / "sandbox_profiles", directory)
    for path in directory.glob("*.toml"):
        kept = [line for line in path.read_text().splitlines() if line.split("=")[0].strip() not in SLOW_MACHINE]
        path.write_text("\n".join([*(f"{key} = {value}" for key, value in SLOW_MACHINE.items()), *kept]) + "\n")
    return directory


def emulation_options() -> list[str]:
    """docker run options added to the compose file's for the emulator (see SLOW_MACHINE)."""
    source = slow_profiles()
    mount = f"type=bind,source={source},target={PROFILES_IN_CONTAINER},readonly"
    return ["--mount", mount, "-e", f"AIRLOCK_PROFILES_DIR={PROFILES_IN_CONTAINER}"]


@dataclass(frozen=True)
class StepResult:
    """One step of the report (from the host's preparation or the guest's STEP lines)."""

    name: str
    verdict: str
    seconds: float
    detail: str
    facts: dict[str, Any]

    @property
    def passed(self) -> bool:
        # "not run": a step this machine cannot do (said in the report, with why).
        return self.verdict in ("ok", "fails closed", "not run")


def prepare(no_compose: bool) -> tuple[dict[str, Any], list[StepResult]]:
    """Everything fetched and made on the host (cached): the .debs, the base, the index."""
    steps = []
    begun = time.monotonic()
    debs = container_assets.ensure_debs(container_assets.DOCKER_PACKAGES)
    compose_debs = [] if no_compose else container_assets.ensure_debs(container_assets.COMPOSE_PACKAGES)
    compose_debs = [d for d in compose_debs if d not in debs]
    counted = f"{len(debs)} for Docker, {len(compose_debs)} for compose"
    steps.append(_done("host: .debs (apt-get download)", begun, counted))
    begun = time.monotonic()
    base = container_assets.ensure_base_rootfs()
    sized = f"{base.name}, {base.stat().st_size >> 20} MiB"
    steps.append(_done("host: base root (debootstrap + this Python)", begun, sized))
    begun = time.monotonic()
    index = container_assets.ensure_index(REPO)
    wheels = len(list((index / "files").glob("*.whl")))
    steps.append(_done("host: wheel index (pip download)", begun, f"{index.name}: {wheels} wheels"))
    assets = {"debs": [str(d) for d in debs], "compose_debs": [str(d) for d in compose_debs], "base": str(base)}
    return assets | {"index": str(index)}, steps


def _done(name: str, begun: float, detail: str) -> StepResult:
    return StepResult(name, "ok", time.monotonic() - begun, detail, {})


def make_plan(assets: dict[str, Any], index_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The guest's instructions (container_guest.Plan), the docker run options read from compose."""
    compose_file = REPO / "docker-compose.yml"
    compose = compose_run.load(compose_file)
    gateway = compose_run.service(compose)
    tokens = {"admin": secrets.token_hex(32), "invoker": secrets.token_hex(32)}
    env = {"AIRLOCK_ADMIN_TOKEN": tokens["admin"], "AIRLOCK_INVOKER_TOKEN": tokens["invoker"]}
    emulation = emulation_options()
    options = compose_run.run_options(gateway, project=PROJECT, env=env) + emulation
    removals = []
    for value in args.remove:
        removal = REMOVALS[value]
        reduced = compose_run.without(gateway, removal)
        removals.append(
            asdict(removal)
            | {
                "run_options": compose_run.run_options(reduced, project=PROJECT, env=env) + emulation,
                "documented": compose_run.comment_above(compose_file, removal.value),
            }
        )
    networks = gateway.get("networks", [])
    return {
        "debs": assets["debs"],
        "compose_debs": assets["compose_debs"],
        "base_tarball": assets["base"],
        "base_image": container_assets.BASE_IMAGE,
        "base_changes": list(container_assets.BASE_CHANGES),
        "index_url": index_url,
        "trusted_host": HOST_FROM_GUEST,
        "image": IMAGE,
        "project": PROJECT,
        "networks": [f"{PROJECT}_{name}" for name in networks],
        "run_options": options,
        "emulation_options": emulation,
        "tokens": tokens,
        "removals": removals,
        "compose_env": env | {"GRAFANA_ADMIN_PASSWORD": secrets.token_hex(16)},
        "compose": not args.no_compose,
        "keep_going": args.keep_going,
        "serving_seconds": args.serving_seconds,
    }


def guest_step(line: str) -> StepResult | None:
    """The step a ``STEP {json}`` line of the guest reports (None for any other line)."""
    if not line.startswith("STEP "):
        return None
    data = json.loads(line[5:])
    return StepResult(data["name"], data["verdict"], data["seconds"], data["detail"], data["facts"])


def guest_steps(stdout: str) -> list[StepResult]:
    return [step for line in stdout.splitlines() if (step := guest_step(line))]


def progress(started: float) -> Callable[[str], None]:
    """Prints each guest step as it ends: the run takes tens of minutes."""

    def show(line: str) -> None:
        if step := guest_step(line):
            elapsed = time.monotonic() - started
            print(f"[{elapsed:6.0f} s] {step.name}: {step.verdict} ({step.seconds:.0f} s)", flush=True)

    return show


def keep_logs(stdout: str, stderr: str, console: str) -> Path:
    """The guest's whole output, for a look after the run (the last run only)."""
    directory = container_assets.docker_cache() / "logs" / "last"
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("stdout", stdout), ("stderr", stderr), ("console", console)):
        (directory / f"{name}.txt").write_text(text)
    return directory


def report(steps: list[StepResult], total: float, logs: Path | None) -> str:
    width = max(len(s.name) for s in steps)
    lines = [f"{s.name:<{width}}  {s.seconds:7.1f} s  {s.verdict:<12}  {s.detail}" for s in steps]
    failed = [s.name for s in steps if not s.passed]
    verdict = f"FAILED: {', '.join(failed)}" if failed else "every step passed"
    lines.append(f"{'total':<{width}}  {total:7.1f} s  {verdict}")
    if logs:
        lines.append(f"guest output: {logs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Prepare, boot, report; 0 only when every step passed."""
    parser = argparse.ArgumentParser(prog="python -m tests.vm.container_check", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=float, default=7200, help="seconds for the VM, boot included (default 7200)")
    parser.add_argument("--serving-seconds", type=float, default=1200, help="a gateway's start-up budget in the VM")
    parser.add_argument("--memory-mib", type=int, default=6144)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument(
        "--remove",
        action="append",
        choices=sorted(REMOVALS),
        help="run without this documented option (repeatable; default: all of them)",
    )
    parser.add_argument("--no-compose", action="store_true", help="skip the docker-compose step")
    parser.add_argument("--keep-going", action="store_true", help="run the later checks after a failed one")
    args = parser.parse_args(argv)
    args.remove = args.remove or list(REMOVALS)

    from tests.pkgindex import PackageIndex  # noqa: PLC0415 - imports pytest; only when running

    started = time.monotonic()
    assets, steps = prepare(args.no_compose)
    logs = None
    with PackageIndex(Path(assets["index"])) as index:
        # The guest reaches this loopback server through QEMU's user-mode network.
        plan = make_plan(assets, f"http://{HOST_FROM_GUEST}:{index.port}/simple", args)
        command = ".venv/bin/python -m tests.vm.container_guest"
        env = {"CONTAINER_PLAN": json.dumps(plan), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = run(
                command,
                timeout=args.timeout,
                memory_mib=args.memory_mib,
                cpus=args.cpus,
                env=env,
                network=True,
                # No AppArmor: Docker would need apparmor_parser on the guest to load its
                # docker-default profile (the compose file sets apparmor=unconfined anyway).
                extra_kernel_args="apparmor=0",
                on_stdout_line=progress(started),
            )
        except VMTimeout as e:
            steps.append(StepResult("VM", "FAILED", args.timeout, f"timed out: {str(e)[-2000:]}", {}))
        except VMError as e:
            steps.append(StepResult("VM", "FAILED", time.monotonic() - started, str(e)[-2000:], {}))
        else:
            logs = keep_logs(done.stdout, done.stderr, done.console)
            steps += guest_steps(done.stdout)
            steps.append(StepResult("VM (boot to poweroff)", "ok" if done.returncode == 0 else "FAILED", done.seconds,
                                    f"guest exit status {done.returncode}", {}))  # fmt: skip
    print(report(steps, time.monotonic() - started, logs), flush=True)
    return 0 if all(s.passed for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
