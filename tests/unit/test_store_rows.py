"""Registry rows that do not decode are named (file and function id), never skipped or deleted."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson
import pytest

from airlock.domain.functions import FunctionRecord
from gateway.registry.store import Store, StoreError

GOOD = FunctionRecord(id="good", source="class Action: pass", sha256="0" * 64, name="Good", kind="action", profile="")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{not json", "not JSON ("),
        ('["a", "list"]', "record: Input should be a dictionary or an instance of FunctionRecord"),
        (orjson.dumps({"id": "bad", "source": "x"}).decode(), "sha256: Field required"),
        (
            orjson.dumps({**orjson.loads(orjson.dumps(GOOD.__dict__)), "id": "bad", "actions": [{"id": 1}]}).decode(),
            "actions.0.id: Input should be a valid string; actions.0.name: Field required",
        ),
        (
            orjson.dumps({**orjson.loads(orjson.dumps(GOOD.__dict__)), "id": "other"}).decode(),
            "its record holds the id 'other'",
        ),
    ],
)
def test_a_malformed_row_is_named_with_its_file_and_kept(tmp_path: Path, raw: str, problem: str) -> None:
    path = tmp_path / "registry.sqlite3"
    store = Store(path)
    store.upsert(GOOD)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO functions VALUES ('bad', ?, 1, 1)", (raw,))

    store = Store(path)
    with pytest.raises(StoreError, match=re.escape(f"{path}: the row of function 'bad' is malformed (")) as caught:
        store.load_all()
    store.close()
    assert problem in str(caught.value)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT record FROM functions WHERE id = 'bad'").fetchone() == (raw,)
