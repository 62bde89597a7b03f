"""The registry database across versions: a version 1 file opens, a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from airlock.domain.functions import FunctionRecord
from gateway.registry.store import SCHEMA_VERSION, Store, StoreError

#: A record as Airlock wrote it before requirements existed (schema version 1).
V1_RECORD: dict[str, Any] = {
    "id": "old",
    "source": "class Action: pass",
    "sha256": "0" * 64,
    "name": "old",
    "kind": "action",
    "profile": "default",
    "description": "",
    "icon_url": None,
    "manifest": {"requirements": "requests"},
    "valves": None,
    "default_valves": None,
    "valves_schema": None,
    "user_valves_schema": None,
    "actions": [],
    "declares_actions": False,
    "priority": 0,
    "is_active": True,
    "is_global": False,
    "model_ids": ["m"],
    "created_at_ms": 1,
    "updated_at_ms": 2,
}


def _v1_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE functions (id TEXT PRIMARY KEY, record TEXT NOT NULL, "
        "created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO functions VALUES (?, ?, 1, 2)", ("old", orjson.dumps(V1_RECORD).decode()))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()


def test_a_version_1_database_opens_and_its_records_have_no_requirements(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    _v1_database(path)
    store = Store(path)
    try:
        (record,) = store.load_all()
        assert record.id == "old"
        assert record.model_ids == ("m",)
        assert (record.requirements, record.requirements_digest, record.requirements_state) == ((), "", "")
        store.upsert(record)
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_requirement_fields_round_trip_but_the_derived_error_is_not_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "registry.sqlite3")
    try:
        record = FunctionRecord(
            id="new",
            source="class Action: pass",
            sha256="0" * 64,
            name="new",
            kind="action",
            profile="default",
            requirements=("a>=1",),
            requirements_digest="d" * 64,
            requirements_state="failed",
            requirements_installed=("a==1.2",),
            requirements_error="missing",
        )
        store.upsert(record)
        (loaded,) = store.load_all()
        assert loaded.requirements == ("a>=1",)
        assert loaded.requirements_installed == ("a==1.2",)
        assert (loaded.requirements_digest, loaded.requirements_state) == ("d" * 64, "failed")
        assert loaded.requirements_error == ""
    finally:
        store.close()


def test_a_database_from_a_newer_airlock_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="is newer than this Airlock"):
        Store(path)
