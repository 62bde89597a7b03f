"""``airlock openwebui``: bridges that make a stock Open WebUI run its actions in Airlock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import click

from airlock.client import AirlockClient
from airlock.openwebui.bridge import BridgeSettings
from airlock.openwebui.rest import OpenWebUI, OpenWebUIError
from airlock.openwebui.sync import Step, export, pull, push
from gateway.cli.connection import Connection
from gateway.cli.failure import CliError

_url_option = click.option(
    "--url",
    envvar="OPENWEBUI_URL",
    show_envvar=True,
    required=True,
    metavar="URL",
    help="Open WebUI's base URL, e.g. http://localhost:3000.",
)
_key_option = click.option(
    "--api-key",
    envvar="OPENWEBUI_API_KEY",
    show_envvar=True,
    required=True,
    metavar="KEY",
    help="An Open WebUI admin's API key or token (prefer the variable).",
)
_address_option = click.option(
    "--airlock-address",
    metavar="HOST:PORT",
    help="Where Open WebUI reaches Airlock (default: --target). Open WebUI's own AIRLOCK_ADDRESS overrides it.",
)
_bridge_token_option = click.option(
    "--bridge-token",
    envvar="AIRLOCK_BRIDGE_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="An invoker token written into the bridges. Without it they read AIRLOCK_TOKEN from Open WebUI's "
    "environment, which keeps the token out of their sources.",
)
_bridge_ca_option = click.option(
    "--bridge-tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA bundle (PEM) the bridges trust: they then connect with TLS (default: --tls-ca's, if given).",
)


def _settings(
    connection: Connection, airlock_address: str | None, bridge_token: str | None, bridge_tls_ca: Path | None
) -> BridgeSettings:
    ca = bridge_tls_ca or connection.tls_ca
    try:
        pem = ca.read_text(encoding="ascii") if ca is not None else None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the CA bundle {ca}: {exc}") from None
    address = airlock_address or connection.target
    if address.startswith("unix:"):
        raise CliError(f"Open WebUI cannot reach Airlock at {address}: give --airlock-address HOST:PORT")
    return BridgeSettings(address=address, token=bridge_token, tls_ca_pem=pem)


def _report(steps: Sequence[Step]) -> None:
    width = max((len(step.function_id) for step in steps), default=0)
    for step in steps:
        click.echo(f"{step.function_id.ljust(width)}  {step.result}  {step.detail}".rstrip())
    failed = [step.function_id for step in steps if step.failed]
    if failed:
        raise CliError(f"{len(failed)} of {len(steps)} function(s) failed: {', '.join(failed)} (re-run when fixed)")
    if not steps:
        click.echo("nothing to do", err=True)


@click.group("openwebui")
def openwebui() -> None:
    """Bridges: Open WebUI runs a small function per plugin, the plugin runs in Airlock.

    See docs/OPENWEBUI.md.
    """


@openwebui.command("push")
@_url_option
@_key_option
@_address_option
@_bridge_token_option
@_bridge_ca_option
@click.option("--force", is_flag=True, help="Overwrite a function of the same id that is not a bridge.")
@click.argument("function_ids", nargs=-1, metavar="[FUNCTION_ID]...")
@click.pass_obj
def push_command(  # noqa: PLR0917 - click passes each option
    connection: Connection,
    url: str,
    api_key: str,
    airlock_address: str | None,
    bridge_token: str | None,
    bridge_tls_ca: Path | None,
    force: bool,
    function_ids: tuple[str, ...],
) -> None:
    """Create or update the bridges of Airlock's actions in Open WebUI (all when none is named).

    Each bridge is switched active and global as its function is in Airlock.
    """
    settings = _settings(connection, airlock_address, bridge_token, bridge_tls_ca)

    async def work(client: AirlockClient) -> list[Step]:
        async with OpenWebUI(url, api_key) as owui:
            return await push(client, owui, settings, function_ids, force=force)

    _report(_run(connection, work))


@openwebui.command("export")
@_address_option
@_bridge_token_option
@_bridge_ca_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the bridges' sources (<id>.py each).",
)
@click.argument("function_ids", nargs=-1, metavar="[FUNCTION_ID]...")
@click.pass_obj
def export_command(  # noqa: PLR0917 - click passes each option
    connection: Connection,
    airlock_address: str | None,
    bridge_token: str | None,
    bridge_tls_ca: Path | None,
    out: Path,
    function_ids: tuple[str, ...],
) -> None:
    """Write the bridges' sources, to paste into Open WebUI's function editor by hand."""
    settings = _settings(connection, airlock_address, bridge_token, bridge_tls_ca)

    async def records(client: AirlockClient) -> list[Step]:
        if function_ids:
            return export([await client.get_function(i) for i in function_ids], settings, out)
        return export(await client.list_functions("action"), settings, out)

    _report(_run(connection, records))


@openwebui.command("pull")
@_url_option
@_key_option
@_address_option
@_bridge_token_option
@_bridge_ca_option
@click.option("--replace", is_flag=True, help="Swap each function registered in Airlock for its bridge.")
@click.option(
    "--profile",
    default="",
    help="Sandbox profile for the functions (default: the one Airlock already gives it, else the gateway's).",
)
@click.option("--overwrite", is_flag=True, help="Replace a different function Airlock holds under the same id.")
@click.argument("function_ids", nargs=-1, metavar="[FUNCTION_ID]...")
@click.pass_obj
def pull_command(  # noqa: PLR0917 - click passes each option
    connection: Connection,
    url: str,
    api_key: str,
    airlock_address: str | None,
    bridge_token: str | None,
    bridge_tls_ca: Path | None,
    replace: bool,
    profile: str,
    overwrite: bool,
    function_ids: tuple[str, ...],
) -> None:
    """Register an Open WebUI instance's actions in Airlock (all when none is named).

    Sources, admin valves and the active/global switches come along. With --replace each
    one, once Airlock holds it, is swapped for its bridge (its valves stay in Open WebUI);
    a function that fails is left as it was. Run it again after fixing what failed.
    """
    settings = _settings(connection, airlock_address, bridge_token, bridge_tls_ca)

    async def work(client: AirlockClient) -> list[Step]:
        async with OpenWebUI(url, api_key) as owui:
            return await pull(
                client, owui, settings, function_ids, replace=replace, profile=profile, overwrite=overwrite
            )

    _report(_run(connection, work))


def _run(connection: Connection, work: Callable[[AirlockClient], Awaitable[list[Step]]]) -> list[Step]:
    try:
        return connection.run(work)
    except OpenWebUIError as exc:
        raise CliError(str(exc)) from None
