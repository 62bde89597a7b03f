"""The registry: validates admin requests, loads sources in workers, persists, answers reads.

Reads are served from memory (the gateway is the database's only writer); writes go to
SQLite first, then to memory, under a per-function lock so concurrent writers cannot lose
updates.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from airlock.domain.functions import ActionButton, FunctionRecord, PutRequest, SubAction
from airlock.domain.progress import Progress, Stage
from gateway.errors import FailedPrecondition, InvalidRequest, InvalidValves, NotFound, ProfileError
from gateway.profiles import ProfileSet
from gateway.registry import inspector, ordering
from gateway.registry.store import Store
from gateway.requirements.manager import FAILED, Prepared, Requirements
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.progress import Reporter, ignore
from gateway.requirements.runtimes import Runtimes
from gateway.sandbox.confinement import SiteBind
from gateway.sandbox.frames import FunctionInfo
from gateway.sandbox.launcher import Launcher

_ID = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_ID_CHARS = 128
MAX_MODEL_IDS = 1_000
MAX_MODEL_ID_CHARS = 256


def normalise_id(function_id: str) -> str:
    """Open WebUI lower-cases function ids, which must be Python identifiers."""
    normalised = function_id.strip().lower()
    if not normalised:
        raise InvalidRequest("id is required")
    if len(normalised) > MAX_ID_CHARS or not _ID.match(normalised):
        raise InvalidRequest(
            f"invalid function id {function_id!r}: use a Python identifier of ASCII letters, digits "
            f"and '_' (at most {MAX_ID_CHARS} characters)"
        )
    return normalised


def _model_ids(model_ids: tuple[str, ...]) -> tuple[str, ...]:
    if len(model_ids) > MAX_MODEL_IDS:
        raise InvalidRequest(f"at most {MAX_MODEL_IDS} model_ids")
    for model_id in model_ids:
        if not model_id or len(model_id) > MAX_MODEL_ID_CHARS:
            raise InvalidRequest(f"model ids must have 1 to {MAX_MODEL_ID_CHARS} characters")
    return tuple(dict.fromkeys(model_ids))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _apply_info(record: FunctionRecord, info: FunctionInfo) -> FunctionRecord:
    return replace(
        record,
        name=info.name,
        kind=info.kind,
        description=info.description,
        icon_url=info.icon_url,
        manifest=dict(info.frontmatter),
        valves=info.valves,
        default_valves=info.default_valves,
        valves_schema=info.valves_schema,
        user_valves_schema=info.user_valves_schema,
        actions=tuple(SubAction(a.id, a.name, a.icon_url) for a in info.actions),
        declares_actions=info.declares_actions,
        priority=info.priority,
    )


def _with_requirements(record: FunctionRecord, prepared: Prepared) -> FunctionRecord:
    return replace(
        record,
        requirements=prepared.specs,
        requirements_digest=prepared.digest,
        requirements_state=prepared.state,
        requirements_installed=prepared.installed,
    )


class Registry:
    """Registered functions, persisted in ``<data dir>/registry.sqlite3``."""

    def __init__(
        self, store: Store, profiles: ProfileSet, launcher: Launcher, max_source_bytes: int, requirements: Requirements
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._launcher = launcher
        self._max_source_bytes = max_source_bytes
        self._requirements = requirements
        self._functions = {record.id: self._check_site(record) for record in store.load_all()}
        # One lock per function id: a slow-loading source holds up writes to itself only.
        self._locks: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)
        # Sets no function references any more (replaced or deleted functions) and
        # leftovers of installations a crash interrupted.
        referenced = {r.requirements_digest for r in self._functions.values() if r.requirements_digest}
        self.collected = requirements.collect(referenced)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        profiles: ProfileSet,
        launcher: Launcher,
        *,
        max_source_bytes: int,
        policy: InstallPolicy,
        runtimes: Runtimes,
    ) -> Registry:
        """Open (or create) the registry database in ``data_dir``, requirement sets beside it."""
        store = Store(data_dir / "registry.sqlite3")
        try:
            requirements = Requirements(data_dir / "requirements", policy, launcher, profiles, runtimes)
            return cls(store, profiles, launcher, max_source_bytes, requirements)
        except BaseException:
            store.close()  # a malformed row: the caller reports it, nothing keeps the file open
            raise

    def _check_site(self, record: FunctionRecord) -> FunctionRecord:
        """``record``, marked failed when its installed set is missing from the disk."""
        if record.requirements_digest and not self._requirements.sites.ready(record.requirements_digest):
            return replace(
                record,
                requirements_state=FAILED,
                requirements_error=f"its requirement set {record.requirements_digest} is missing from the data "
                "directory; put the function again to reinstall it",
            )
        return record

    def site(self, record: FunctionRecord) -> SiteBind | None:
        """The read-only bind of ``record``'s installed requirements, if it has any."""
        return self._requirements.site(record.requirements_digest)

    def _usable(self, record: FunctionRecord) -> None:
        if record.requirements_state == FAILED:
            raise FailedPrecondition(f"function {record.id!r} cannot run: {record.requirements_error}")

    def close(self) -> None:
        """Close the database."""
        self._store.close()

    def get(self, function_id: str) -> FunctionRecord:
        """One function, or NotFound."""
        record = self._functions.get(function_id.strip().lower())
        if record is None:
            raise NotFound(f"no function {function_id!r} is registered")
        return record

    def list_functions(self, kind: str = "") -> list[FunctionRecord]:
        """All functions (of one kind when given), by id."""
        return sorted((f for f in self._functions.values() if not kind or f.kind == kind), key=lambda f: f.id)

    def list_actions(self, model_id: str) -> list[ActionButton]:
        """The action buttons of one model, in display order."""
        if not model_id:
            raise InvalidRequest("model_id is required")
        return ordering.action_buttons(self._functions.values(), model_id)

    def resolve_action(self, action_id: str) -> tuple[FunctionRecord, str | None]:
        """The function and sub-action id an ``action_id`` names, ready to invoke."""
        if not action_id:
            raise InvalidRequest("Start.action_id is required")
        function_id, dot, sub_id = action_id.partition(".")
        if dot and (not sub_id or "." in sub_id):
            raise InvalidRequest(f"invalid action id {action_id!r}: use '<function id>' or '<function id>.<sub id>'")
        record = self.get(function_id)
        if record.kind != "action":
            raise FailedPrecondition(f"function {record.id!r} is a {record.kind}, not an action")
        if not record.is_active:
            raise FailedPrecondition(f"action {record.id!r} is not active")
        self._usable(record)
        if dot and sub_id not in {a.id for a in record.actions}:
            known = ", ".join(f"{record.id}.{a.id}" for a in record.actions) or "none"
            raise NotFound(f"function {record.id!r} has no sub-action {sub_id!r} (sub-actions: {known})")
        return record, sub_id or None

    async def put(self, request: PutRequest, report: Reporter = ignore) -> FunctionRecord:
        """Create or replace a function after its requirements installed and a worker loaded its source.

        ``report`` hears every stage as it happens. Nothing is stored unless both succeeded.
        """
        function_id = normalise_id(request.id)
        if not request.source.strip():
            raise InvalidRequest("source is empty")
        size = len(request.source.encode())
        if size > self._max_source_bytes:
            raise InvalidRequest(f"source is {size} bytes; the limit is {self._max_source_bytes}")
        try:
            profile = self._profiles.resolve(request.profile)
        except ProfileError as exc:
            raise InvalidRequest(str(exc)) from None
        model_ids = _model_ids(request.model_ids)
        async with self._locks[function_id]:
            previous = self._functions.get(function_id)
            valves = request.valves
            if valves is None and previous is not None:
                valves = previous.valves  # replacing the source keeps the admin's valves...
            prepared = await self._requirements.prepare(request.source, profile, report)
            await report(Progress(Stage.LOADING, f"profile {profile.name}"))
            site = self._requirements.site(prepared.digest)
            try:
                info = await inspector.inspect(self._launcher, profile, function_id, request.source, valves, site=site)
            except InvalidValves as exc:
                if request.valves is None and valves is not None:  # ...when the new Valves still accept them
                    raise InvalidRequest(
                        f"the stored valves do not fit the new source ({exc}); pass valves_json to replace them"
                    ) from None
                raise
            now = _now_ms()
            record = FunctionRecord(
                id=function_id,
                source=request.source,
                sha256=hashlib.sha256(request.source.encode()).hexdigest(),
                name="",
                kind="",
                profile=profile.name,
                is_active=request.is_active,
                is_global=request.is_global,
                model_ids=model_ids,
                created_at_ms=previous.created_at_ms if previous else now,
                updated_at_ms=now,
            )
            return await self._save(_with_requirements(_apply_info(record, info), prepared))

    async def update_valves(self, function_id: str, valves: dict[str, Any]) -> FunctionRecord:
        """Replace the admin valves, validated by the function's Valves model in a worker."""
        async with self._locks[function_id.strip().lower()]:
            record = self.get(function_id)
            if record.valves_schema is None:
                raise FailedPrecondition(f"function {record.id!r} has no Valves class, so it takes no valves")
            self._usable(record)
            profile = self._profiles.resolve(record.profile)
            info = await inspector.inspect(
                self._launcher, profile, record.id, record.source, valves, site=self.site(record)
            )
            return await self._save(replace(_apply_info(record, info), updated_at_ms=_now_ms()))

    async def delete(self, function_id: str) -> FunctionRecord:
        """Delete a function; NotFound when there is none."""
        async with self._locks[function_id.strip().lower()]:
            record = self.get(function_id)
            await anyio.to_thread.run_sync(self._store.delete, record.id)
            del self._functions[record.id]
            return record

    async def _save(self, record: FunctionRecord) -> FunctionRecord:
        await anyio.to_thread.run_sync(self._store.upsert, record)
        self._functions[record.id] = record
        return record
