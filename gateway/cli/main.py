"""The ``airlock`` command group and ``airlock serve``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from gateway.cli.connection import DEFAULT_TARGET, Connection
from gateway.cli.failure import CliError
from gateway.cli.health_command import health
from gateway.cli.host_commands import doctor, profiles
from gateway.cli.invoke_command import invoke
from gateway.cli.openwebui_command import openwebui
from gateway.cli.registry_commands import REGISTRY_COMMANDS
from gateway.cli.settings_options import environment_only_help, settings_options
from gateway.config import GatewayConfig
from gateway.errors import AirlockError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--target",
    envvar="AIRLOCK_TARGET",
    default=DEFAULT_TARGET,
    show_default=True,
    show_envvar=True,
    metavar="HOST:PORT|unix:PATH",
    help="The gateway client commands connect to.",
)
@click.option(
    "--token",
    envvar="AIRLOCK_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="Bearer token (prefer the variable: a command line is visible to every local user).",
)
@click.option(
    "--tls-ca",
    envvar="AIRLOCK_CLIENT_TLS_CA",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Connect with TLS, trusting this CA bundle (PEM).",
)
@click.option(
    "--tls-cert",
    envvar="AIRLOCK_CLIENT_TLS_CERT",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Client certificate (PEM) for mTLS.",
)
@click.option(
    "--tls-key",
    envvar="AIRLOCK_CLIENT_TLS_KEY",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Client private key (PEM) for mTLS.",
)
@click.version_option(package_name="airlock", prog_name="airlock")
@click.pass_context
def cli(  # noqa: PLR0917 - click passes every option by keyword, in declaration order
    ctx: click.Context, target: str, token: str | None, tls_ca: Path | None, tls_cert: Path | None, tls_key: Path | None
) -> None:
    """Airlock: run Open WebUI action functions in sandboxed workers, behind gRPC."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_ca is None:
        raise click.UsageError("--tls-cert needs --tls-ca (mTLS is TLS first)")
    ctx.obj = Connection(target, token=token, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key)


#: ``--config``, for the commands that run a gateway (serve, runtimes build).
config_option = click.option(
    "--config",
    "config_file",
    envvar="AIRLOCK_CONFIG",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file of settings (the names below, with underscores).",
)


def _gateway_config(config_file: Path | None, options: dict[str, Any]) -> GatewayConfig:
    """The settings from ``config_file``, the environment and the options given, with logging set up."""
    # Imported here: client commands should not pay for loading the server side.
    from gateway import logs  # noqa: PLC0415

    try:
        # Options left out keep the other sources' values, so defaults live in GatewayConfig only.
        config = GatewayConfig.load(
            config_file, **{name: value for name, value in options.items() if value is not None}
        )
    except AirlockError as exc:
        raise CliError(str(exc)) from None
    logs.configure(json={"auto": None, "json": True, "console": False}[config.log_format], level=config.log_level)
    return config


@cli.command(epilog=environment_only_help())
@config_option
@settings_options
def serve(config_file: Path | None, **options: Any) -> None:
    """Run a gateway until SIGINT or SIGTERM (SIGTERM drains: see docs/OPERATIONS.md).

    Prints `airlock listening on ADDRESS` on stdout once it accepts connections.
    """
    # Imported here: client commands should not pay for loading the server side
    # (registry, sandbox launcher, health and reflection services) on every run.
    from gateway.cli.serving import serve_until_signalled  # noqa: PLC0415

    asyncio.run(serve_until_signalled(_gateway_config(config_file, options)))


@cli.group(epilog=environment_only_help())
def runtimes() -> None:
    """Build and list plugin runtimes (the package sets sandboxes import from)."""


@runtimes.command("build", epilog=environment_only_help())
@config_option
@click.option(
    "--unconfined",
    is_flag=True,
    help="Run pip directly, without a sandbox: only for image builds, where none can be made "
    "(the locks pin every file by hash; see docs/RUNTIMES.md).",
)
@settings_options
def build(config_file: Path | None, unconfined: bool, **options: Any) -> None:
    """Build, ahead of time, every runtime the profiles name (what `serve` would build at start).

    Progress goes to the log on stderr. Exit status 1 when a runtime failed to build.
    """
    from gateway.cli.serving import build_runtimes  # noqa: PLC0415

    config = _gateway_config(config_file, options)
    if unconfined:
        from gateway.cli.serving import build_runtimes_unconfined  # noqa: PLC0415

        build_runtimes_unconfined(config)
        return
    failures = asyncio.run(build_runtimes(config))
    for name, error in failures.items():
        click.echo(f"runtime {name}: FAILED: {error}", err=True)
    if failures:
        click.get_current_context().exit(1)


for _command in (*REGISTRY_COMMANDS, invoke, health, doctor, profiles, runtimes, openwebui):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``airlock`` console script."""
    cli(prog_name="airlock")
