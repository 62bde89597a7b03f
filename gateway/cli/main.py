"""The ``airlock`` command group and ``airlock serve``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from gateway.cli.connection import DEFAULT_TARGET, Connection
from gateway.cli.host_commands import doctor, profiles
from gateway.cli.invoke_command import invoke
from gateway.cli.params import HostPort
from gateway.cli.registry_commands import REGISTRY_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--target",
    envvar="AIRLOCK_TARGET",
    default=DEFAULT_TARGET,
    show_default=True,
    show_envvar=True,
    metavar="HOST:PORT",
    help="The gateway client commands connect to.",
)
@click.version_option(package_name="airlock", prog_name="airlock")
@click.pass_context
def cli(ctx: click.Context, target: str) -> None:
    """Airlock: run Open WebUI action functions in sandboxed workers, behind gRPC."""
    ctx.obj = Connection(target)


@cli.command()
@click.option(
    "--listen", type=HostPort(), help="Address to serve on; port 0 picks a free port.  [default: 127.0.0.1:50051]"
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the registry lives.  [default: $XDG_DATA_HOME/airlock]",
)
@click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of sandbox profiles (*.toml).  [default: the shipped profiles]",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="auto: console on a terminal, JSON lines otherwise.",
)
def serve(listen: str | None, data_dir: Path | None, profiles_dir: Path | None, log_format: str) -> None:
    """Run a gateway until SIGINT or SIGTERM.

    Prints `airlock listening on HOST:PORT` on stdout once it accepts connections.
    """
    # Imported here: client commands should not pay for loading the server side
    # (registry, sandbox launcher, health and reflection services) on every run.
    from gateway import logs  # noqa: PLC0415
    from gateway.cli.serving import serve_until_signalled  # noqa: PLC0415
    from gateway.config import GatewayConfig  # noqa: PLC0415

    given: dict[str, Any] = {"listen": listen, "data_dir": data_dir, "profiles_dir": profiles_dir}
    # Options left out keep GatewayConfig's defaults, so there is one place that defines them.
    config = GatewayConfig(**{name: value for name, value in given.items() if value is not None})
    logs.configure(json={"auto": None, "json": True, "console": False}[log_format])
    asyncio.run(serve_until_signalled(config))


for _command in (*REGISTRY_COMMANDS, invoke, doctor, profiles):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``airlock`` console script."""
    cli(prog_name="airlock")
