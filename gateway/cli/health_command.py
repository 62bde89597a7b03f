"""``airlock health``: the gateway's gRPC health status, for container and load-balancer probes."""

from __future__ import annotations

import click

from gateway.cli.connection import Connection


@click.command()
@click.option("--service", default="", help='A service name (e.g. airlock.v1.Runtime); "" is the whole gateway.')
@click.pass_obj
def health(connection: Connection, service: str) -> None:
    """Print the health status; exit 0 when SERVING, 1 otherwise (NOT_SERVING while draining)."""
    status = connection.run(lambda client: client.health(service))
    click.echo(status)
    if status != "SERVING":
        click.get_current_context().exit(1)
