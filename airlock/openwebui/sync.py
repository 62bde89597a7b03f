"""Keeping an Open WebUI instance's functions and Airlock's registry in step.

* ``push``: one bridge per Airlock action, created or updated in Open WebUI, switched
  active/global as in Airlock.
* ``pull``: an instance's own actions registered in Airlock with their admin valves and
  switches; with ``replace``, each then swapped for its bridge.

Each function is a step of its own: one that fails is reported and the others go on.
Nothing is removed before its replacement is in place (a plugin is swapped for its bridge
only once Airlock holds it), so a failed run is re-run as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from airlock.client import AirlockClient, FunctionRecord
from airlock.openwebui.bridge import BridgeError, BridgeSettings, is_bridge, render
from airlock.openwebui.rest import OpenWebUI, OpenWebUIError, OpenWebUIFunction


@dataclass(frozen=True)
class Step:
    """What happened to one function."""

    function_id: str
    #: created, updated, unchanged, registered, replaced, skipped or failed.
    result: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        """Whether this function needs the admin's attention."""
        return self.result == "failed"


def _rpc_detail(exc: grpc.aio.AioRpcError) -> str:
    return f"Airlock: {exc.code().name}: {exc.details()}"


async def _airlock_actions(airlock: AirlockClient, ids: Sequence[str]) -> list[FunctionRecord | Step]:
    if not ids:
        listed = await airlock.list_functions("action")
        ids = [record.id for record in listed]
    found: list[FunctionRecord | Step] = []
    for function_id in ids:
        try:
            found.append(await airlock.get_function(function_id))
        except grpc.aio.AioRpcError as exc:
            found.append(Step(function_id, "failed", _rpc_detail(exc)))
    return found


def _switches(record: FunctionRecord) -> str:
    return f"active={'yes' if record.is_active else 'no'} global={'yes' if record.is_global else 'no'}"


async def push(
    airlock: AirlockClient, owui: OpenWebUI, settings: BridgeSettings, ids: Sequence[str] = (), *, force: bool = False
) -> list[Step]:
    """Create or update the bridges of ``ids`` (every action when empty) in Open WebUI."""
    existing = await owui.functions()
    steps: list[Step] = []
    for item in await _airlock_actions(airlock, ids):
        if isinstance(item, Step):
            steps.append(item)
            continue
        try:
            steps.append(await _push_one(owui, item, settings, existing.get(item.id), force=force))
        except (BridgeError, OpenWebUIError) as exc:
            steps.append(Step(item.id, "failed", str(exc)))
    return steps


async def _push_one(
    owui: OpenWebUI,
    record: FunctionRecord,
    settings: BridgeSettings,
    current: OpenWebUIFunction | None,
    *,
    force: bool,
) -> Step:
    source = render(record, settings)
    if current is None:
        made = await owui.create(record.id, record.name, source, record.description)
        result = "created"
        if record.valves:
            # The bridge sends Open WebUI's valves with every click, in place of Airlock's:
            # start Open WebUI with Airlock's, so that its form shows them and an edit there
            # changes one valve, not all of them back to their defaults. (Read only with an
            # admin token; without one Airlock's apply while Open WebUI holds none.)
            await owui.update_valves(record.id, record.valves)
    else:
        current = await owui.function(record.id)
        if current.content is not None and not is_bridge(current.content) and not force:
            return Step(
                record.id,
                "failed",
                "Open WebUI holds a plugin of this id that is not a bridge: `airlock openwebui pull --replace` "
                "moves it into Airlock (or push --force overwrites it)",
            )
        if current.content == source:
            made, result = current, "unchanged"
        else:
            made = await owui.update(record.id, record.name, source, record.description)
            result = "updated"
    made = await owui.set_switches(made, active=record.is_active, is_global=record.is_global)
    return Step(record.id, result, _switches(record))


async def pull(
    airlock: AirlockClient,
    owui: OpenWebUI,
    settings: BridgeSettings,
    ids: Sequence[str] = (),
    *,
    replace: bool = False,
    profile: str = "",
    overwrite: bool = False,
) -> list[Step]:
    """Register Open WebUI's own actions in Airlock; with ``replace``, swap each for its bridge.

    A function Airlock already holds under the same id with another source is left alone
    (in both) unless ``overwrite``.
    """
    listed = await owui.functions()
    wanted = list(ids) if ids else sorted(f.id for f in listed.values() if f.type == "action")
    steps: list[Step] = []
    for function_id in wanted:
        summary = listed.get(function_id)
        if summary is None:
            steps.append(Step(function_id, "failed", "Open WebUI has no function of this id"))
            continue
        if summary.type != "action":
            steps.append(Step(function_id, "skipped", f"a {summary.type}: Airlock runs actions only"))
            continue
        try:
            steps.append(
                await _pull_one(airlock, owui, settings, summary, replace=replace, profile=profile, overwrite=overwrite)
            )
        except (BridgeError, OpenWebUIError) as exc:
            steps.append(Step(function_id, "failed", str(exc)))
    return steps


async def _pull_one(
    airlock: AirlockClient,
    owui: OpenWebUI,
    settings: BridgeSettings,
    summary: OpenWebUIFunction,
    *,
    replace: bool,
    profile: str,
    overwrite: bool,
) -> Step:
    function = await owui.function(summary.id)
    content = function.content or ""
    if is_bridge(content):
        return Step(summary.id, "skipped", "already a bridge to Airlock")
    valves = await owui.valves(summary.id)
    try:
        held = await _held(airlock, summary.id)
        if held is not None and held.source != content and not overwrite:
            return Step(
                summary.id,
                "failed",
                "Airlock already holds a different function of this id (--overwrite replaces it); "
                "left as it was in Open WebUI",
            )
        record = await airlock.put_function(
            summary.id,
            content,
            # A function Airlock already held keeps its profile and models unless told otherwise.
            profile=profile or (held.profile if held is not None else ""),
            is_active=summary.is_active,
            is_global=summary.is_global,
            model_ids=held.model_ids if held is not None else (),
            valves=valves or None,
        )
    except grpc.aio.AioRpcError as exc:
        # Open WebUI still runs its own copy: nothing was changed there.
        return Step(summary.id, "failed", f"{_rpc_detail(exc)} (left as it was in Open WebUI)")
    if not replace:
        return Step(summary.id, "registered", _switches(record))
    bridge = render(record, settings)
    try:
        # Open WebUI's name and description stay as the admin had them: the buttons show them.
        await owui.update(summary.id, function.name, bridge, function.description)
    except OpenWebUIError as exc:
        return Step(summary.id, "failed", f"registered in Airlock, but not replaced in Open WebUI: {exc}")
    return Step(summary.id, "replaced", _switches(record))


async def _held(airlock: AirlockClient, function_id: str) -> FunctionRecord | None:
    try:
        return await airlock.get_function(function_id)
    except grpc.aio.AioRpcError as exc:
        if exc.code() is grpc.StatusCode.NOT_FOUND:
            return None
        raise


def export(records: Sequence[FunctionRecord], settings: BridgeSettings, out: Path) -> list[Step]:
    """Write ``<id>.py``, the bridge of each action, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    for record in records:
        try:
            source = render(record, settings)
        except BridgeError as exc:
            steps.append(Step(record.id, "failed", str(exc)))
            continue
        path = out / f"{record.id}.py"
        # A bridge holding a token is a credential: readable by its owner only, from the start.
        mode = 0o600 if settings.token else 0o644
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(source)
        steps.append(Step(record.id, "written", str(path)))
    return steps
