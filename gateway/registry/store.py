"""SQLite persistence of the registry (an embedded file in the data directory).

Calls are synchronous and short; the registry runs them on a worker thread. WAL mode keeps
readers and the single writer from blocking each other.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from airlock.domain.functions import FunctionRecord
from runner import exact_json

#: 2: records may hold requirements_* fields. A version 1 database opens unchanged (its
#: records lack them, which means "no requirements"); the version is raised so that an
#: older Airlock refuses records it could not read instead of failing on them.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
)
"""


class StoreError(Exception):
    """The database file is unusable (newer schema, not a database, a malformed row)."""


#: Checks a stored record field by field (types included): a row edited by hand or written
#: by a broken build is named at start, not met as a KeyError or later as a wrong type.
_RECORD = TypeAdapter(FunctionRecord)


def _encode(record: FunctionRecord) -> bytes:
    data = asdict(record)
    del data["requirements_error"]  # worked out at start, from the directory on disk
    return exact_json.dumps(data)


def _decode(raw: str | bytes) -> FunctionRecord:
    """The record stored as ``raw``; ValueError saying what is wrong with it."""
    try:
        data: Any = exact_json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if isinstance(data, dict):
        data.pop("requirements_error", None)  # never stored; worked out at start
    try:
        return _RECORD.validate_python(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
            for error in exc.errors(include_input=False)
        ]
        raise ValueError("; ".join(problems)) from None


class Store:
    """The ``functions`` table of ``registry.sqlite3``."""

    def __init__(self, path: Path) -> None:
        # Sources and valves (which hold API keys) live here: owner-only, like a key file.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        os.chmod(path, 0o600)  # SQLite gives its -wal and -shm files the same mode
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path}: schema version {version} is newer than this Airlock ({SCHEMA_VERSION})")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: {exc}") from None

    def load_all(self) -> list[FunctionRecord]:
        """Every stored record; StoreError naming the first row that does not decode.

        A malformed row refuses the start rather than being skipped: a gateway running
        without it would collect its installed requirement set as unreferenced, and a
        later put of the same id would overwrite it, so the operator would lose it without
        being asked. Nothing here ever deletes or rewrites a row.
        """
        with self._lock:
            rows = self._db.execute("SELECT id, record FROM functions ORDER BY id").fetchall()
        records = []
        for function_id, raw in rows:
            try:
                record = _decode(raw)
                if record.id != function_id:
                    raise ValueError(f"its record holds the id {record.id!r}")
            except ValueError as exc:
                raise StoreError(
                    f"{self.path}: the row of function {function_id!r} is malformed ({exc}); the gateway "
                    "does not start without it: repair the row, or delete it if the function may go "
                    "(sqlite3 on the file, with the gateway stopped)"
                ) from None
            records.append(record)
        return records

    def upsert(self, record: FunctionRecord) -> None:
        """Insert or replace one record (atomically)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO functions (id, record, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record=excluded.record, updated_at_ms=excluded.updated_at_ms",
                (record.id, _encode(record).decode(), record.created_at_ms, record.updated_at_ms),
            )

    def delete(self, function_id: str) -> bool:
        """Delete one record; False when there was none."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM functions WHERE id = ?", (function_id,))
        return cursor.rowcount > 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
