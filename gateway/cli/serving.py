"""Running a gateway in the foreground for ``airlock serve``: start, announce, wait for a signal, stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import click
import structlog

from gateway.cli.failure import CliError
from gateway.config import GatewayConfig
from gateway.errors import AirlockError
from gateway.server import Gateway, exposure_warnings

log = structlog.get_logger("airlock.cli")

#: The line ``serve`` prints once it accepts connections; scripts read the port from it.
LISTENING = "airlock listening on"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _open_gateway(config: GatewayConfig) -> Gateway:
    try:
        return Gateway(config)
    except AirlockError as exc:  # invalid profiles, unusable data directory, unbindable address
        raise CliError(str(exc)) from None


async def build_runtimes(config: GatewayConfig) -> dict[str, str]:
    """Build the runtimes ``config``'s profiles need; the failures by runtime name."""
    gateway = _open_gateway(config)
    try:
        failures = await gateway.build_only()
    except AirlockError as exc:
        raise CliError(str(exc)) from None
    for spec in gateway.profiles.needed_runtimes():
        if gateway.runtimes.ready(spec):
            click.echo(f"runtime {spec.name}: {gateway.runtimes.path(spec)}")
    return failures


def build_runtimes_unconfined(config: GatewayConfig) -> None:
    """Build the runtimes ``config``'s profiles need with pip run directly (image builds)."""
    from gateway.profiles import load_profiles  # noqa: PLC0415
    from gateway.requirements.policy import InstallPolicy  # noqa: PLC0415
    from gateway.requirements.runtimes import Runtimes  # noqa: PLC0415
    from gateway.requirements.wheelcache import WheelCache  # noqa: PLC0415

    try:
        profiles = load_profiles(config.profiles_dir)
    except AirlockError as exc:
        raise CliError(str(exc)) from None
    policy = InstallPolicy.from_config(config)
    runtimes = Runtimes(config.runtimes_root, policy, None, profiles.resolve(""), WheelCache(config.wheel_cache_root))
    for spec in profiles.needed_runtimes():
        try:
            path = runtimes.build_unconfined(spec, sys.executable)
        except subprocess.CalledProcessError as exc:
            raise CliError(f"runtime {spec.name}: pip exited with status {exc.returncode}") from None
        click.echo(f"runtime {spec.name}: {path}")


async def serve_until_signalled(config: GatewayConfig) -> None:
    """Run a gateway until SIGINT or SIGTERM, then stop it gracefully.

    Prints ``airlock listening on HOST:PORT`` on stdout once it accepts connections; an
    invalid configuration (profiles, data directory, address) is a CliError.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers only set the event: shutting down needs awaits, which a handler cannot do.
    # Installed first, so a SIGTERM right after the "listening" line is never lost.
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        gateway = _open_gateway(config)
        try:
            try:
                await gateway.start()
            except AirlockError as exc:  # the metrics address is taken or invalid
                raise CliError(str(exc)) from None
            for warning in exposure_warnings(config):
                # Loud on purpose: on stderr in capitals, besides the structured log line.
                click.secho(f"WARNING: {warning}", err=True, fg="red", bold=True)
            click.echo(f"{LISTENING} {gateway.address}")  # click.echo flushes
            await stop.wait()
            log.info("shutdown_requested", grace_seconds=config.shutdown_grace_seconds)
        finally:
            await gateway.stop()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
