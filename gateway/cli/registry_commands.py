"""Registry commands: put, functions, actions, get, delete, valves."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from airlock.client import ActionButton, AirlockClient, FunctionRecord
from airlock.domain.progress import Progress, Stage
from gateway.cli.connection import Connection
from gateway.cli.params import JsonValue
from gateway.cli.render import compact_json
from runner import exact_json

#: How much of a sha256 summaries show (as git shows commits: enough to tell versions apart).
SHA_PREFIX = 12


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _record_json(record: FunctionRecord) -> dict[str, Any]:
    fields = dataclasses.asdict(record)
    del fields["source"]  # listings never carry sources; `get --source` prints one
    return fields


def _buttons(record: FunctionRecord) -> str:
    if record.actions:
        return ", ".join(f"{record.id}.{sub.id} ({sub.name})" for sub in record.actions)
    return record.id


def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "-"


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "function_id", help="Function id (default: the file name without .py).")
@click.option("--global", "is_global", is_flag=True, help="Show the action on every model.")
@click.option("--model", "model_ids", multiple=True, metavar="MODEL", help="Attach to a model (repeatable).")
@click.option("--profile", default="", help="Sandbox profile (default: the gateway's default profile).")
@click.option("--inactive", is_flag=True, help="Register the function switched off.")
@click.option("--valves", type=JsonValue(object_only=True), help="Admin valves (default: the Valves defaults).")
@click.pass_obj
def put(
    connection: Connection,
    *,
    file: Path,
    function_id: str | None,
    is_global: bool,
    model_ids: tuple[str, ...],
    profile: str,
    inactive: bool,
    valves: dict[str, Any] | None,
) -> None:
    """Register a function's source file.

    FILE is an Open WebUI function's Python source; a function with the same id is
    replaced. The gateway loads it in a worker first and refuses a source that fails.
    """
    try:
        source = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"not UTF-8 text: {exc}", param_hint="FILE") from None

    async def put_watching(client: AirlockClient) -> FunctionRecord:
        stored: FunctionRecord | None = None
        progress = client.put_function_with_progress(
            function_id or file.stem,
            source,
            profile=profile,
            is_active=not inactive,
            is_global=is_global,
            model_ids=model_ids,
            valves=valves,
        )
        async for item in progress:
            if isinstance(item, Progress):
                _show_progress(item)
            else:
                stored = item
        if stored is None:
            raise click.ClickException("the gateway ended the registration without the function")
        return stored

    record = connection.run(put_watching)
    click.echo(f'{record.id}  {record.kind}  "{record.name}"  sha256:{record.sha256[:SHA_PREFIX]}')
    if record.kind == "action":
        click.echo(f"  buttons: {_buttons(record)}")
    if record.requirements:
        click.echo(f"  requirements: {_requirements(record)}")


def _show_progress(progress: Progress) -> None:
    """One line on stderr per stage (stdout keeps the result only); pip's lines indented."""
    if progress.stage is Stage.OUTPUT:
        click.echo(f"    {progress.message}", err=True)
    else:
        click.echo(f"{progress.stage.value}: {progress.message}".rstrip(": "), err=True)


def _requirements(record: FunctionRecord) -> str:
    if record.requirements_state == "ready":
        return f"ready, set {record.requirements_digest[:SHA_PREFIX]}: {', '.join(record.requirements_installed)}"
    return f"{record.requirements_state}: {', '.join(record.requirements)}"


@click.command()
@click.option("--kind", default="", help="Only this kind: action, filter, pipe, event.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def functions(connection: Connection, kind: str, as_json: bool) -> None:
    """List registered functions, sorted by id."""
    records = connection.run(lambda client: client.list_functions(kind))
    if as_json:
        for record in records:
            click.echo(exact_json.dumps(_record_json(record)).decode())
        return
    rows = [
        (r.id, r.kind, r.name, _yes_no(r.is_active), _yes_no(r.is_global), str(r.priority), r.profile) for r in records
    ]
    _table(("ID", "KIND", "NAME", "ACTIVE", "GLOBAL", "PRIORITY", "PROFILE"), rows)


@click.command()
@click.option("--model", "model_id", required=True, help="The model whose buttons to list.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def actions(connection: Connection, model_id: str, as_json: bool) -> None:
    """List a model's action buttons in display order.

    Each ID is what `airlock invoke` takes.
    """
    buttons: list[ActionButton] = connection.run(lambda client: client.list_actions(model_id))
    if as_json:
        for button in buttons:
            click.echo(exact_json.dumps(button).decode())
        return
    _table(("ID", "NAME", "PRIORITY"), [(b.id, b.name, str(b.priority)) for b in buttons])


@click.command()
@click.argument("function_id", metavar="ID")
@click.option("--source", "source_only", is_flag=True, help="Print only the source (to save or diff it).")
@click.pass_obj
def get(connection: Connection, function_id: str, source_only: bool) -> None:
    """Show one function.

    What its worker reported when it was loaded, its settings and its stored valves.
    """
    record = connection.run(lambda client: client.get_function(function_id))
    if source_only:
        click.echo(record.source, nl=not record.source.endswith("\n"))
        return
    lines = {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "description": record.description,
        "sha256": record.sha256,
        "profile": record.profile,
        "active": _yes_no(record.is_active),
        "global": _yes_no(record.is_global),
        "models": ", ".join(record.model_ids),
        "priority": str(record.priority),
        "buttons": _buttons(record) if record.kind == "action" else "",
        "valves": compact_json(record.valves) if record.valves is not None else "(defaults)",
        "defaults": compact_json(record.default_valves) if record.default_valves is not None else "",
        "user valves": ", ".join((record.user_valves_schema or {}).get("properties", {})),
        "created": _timestamp(record.created_at_ms),
        "updated": _timestamp(record.updated_at_ms),
    }
    for label, value in lines.items():
        if value:
            click.echo(f"{label + ':':<13}{value}")


@click.command()
@click.argument("function_id", metavar="ID")
@click.pass_obj
def delete(connection: Connection, function_id: str) -> None:
    """Delete a function."""
    deleted = connection.run(lambda client: client.delete_function(function_id))
    click.echo(f"deleted {deleted}")


@click.command()
@click.argument("function_id", metavar="ID")
@click.argument("new_valves", metavar="JSON|@FILE", type=JsonValue(object_only=True))
@click.pass_obj
def valves(connection: Connection, function_id: str, new_valves: dict[str, Any]) -> None:
    """Replace a function's admin valves.

    The Valves model validates them; `{}` resets every valve to its default. Prints the
    valves as stored.
    """
    record = connection.run(lambda client: client.update_valves(function_id, new_valves))
    click.echo(compact_json(record.valves))


REGISTRY_COMMANDS = (put, functions, actions, get, delete, valves)
