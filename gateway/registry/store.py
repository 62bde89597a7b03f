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

import orjson

from airlock.domain.functions import FunctionRecord, SubAction

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
    """The database file is unusable (newer schema, not a database)."""


def _encode(record: FunctionRecord) -> bytes:
    data = asdict(record)
    del data["requirements_error"]  # worked out at start, from the directory on disk
    return orjson.dumps(data)


def _decode(raw: str | bytes) -> FunctionRecord:
    data: dict[str, Any] = orjson.loads(raw)
    data["actions"] = tuple(SubAction(**a) for a in data["actions"])
    for name in ("model_ids", "requirements", "requirements_installed"):
        if name in data:
            data[name] = tuple(data[name])
    return FunctionRecord(**data)


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
        """Every stored record."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM functions ORDER BY id").fetchall()
        return [_decode(row[0]) for row in rows]

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
