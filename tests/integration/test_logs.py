"""Structured logs of a real ``airlock serve``: JSON lines, bound fields, one summary per invocation, no secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import serving

pytestmark = pytest.mark.timeout(90)

VALVE_SECRET = "sk-valve-4f1c9e0d2b7a"
USER_VALVE_SECRET = "uv-secret-93be1d"
BODY_SECRET = "body-payload-7e21aa"
EVENT_SECRET = "event-content-c0ffee"

LEAKY = f'''
from pydantic import BaseModel

class Action:
    class Valves(BaseModel):
        api_key: str = ""

    class UserValves(BaseModel):
        token: str = ""

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__=None, __event_emitter__=None):
        await __event_emitter__({{"type": "status", "data": {{"description": "{EVENT_SECRET}"}}}})
        if body.get("fail"):
            raise ValueError("failing on purpose")
        return {{"echo": body["text"], "key_length": len(self.valves.api_key)}}
'''


def records(log: Path) -> list[dict[str, Any]]:
    """Every line of the log, each of which must be one JSON object."""
    lines = log.read_text().splitlines()
    assert lines
    return [json.loads(line) for line in lines]


def test_json_logs_bind_invocation_fields_summarise_once_and_hide_secrets(tmp_path: Path, profiles_dir: Path) -> None:
    source = tmp_path / "leaky.py"
    source.write_text(LEAKY)
    with serving(tmp_path, profiles_dir) as served:
        put = served.run(
            "put", str(source), "--id", "leaky", "--global", "--valves", json.dumps({"api_key": VALVE_SECRET})
        )
        assert put.returncode == 0, put.stderr
        user = json.dumps({"id": "u-42", "name": "Ada"})
        for body in ({"text": BODY_SECRET}, {"text": BODY_SECRET, "fail": True}):
            done = served.run(
                "invoke",
                "leaky",
                "--body",
                json.dumps(body),
                "--user",
                user,
                "--user-valves",
                json.dumps({"token": USER_VALVE_SECRET}),
            )
            assert done.returncode in {0, 1}, done.stderr
        assert served.stop() == 0
    logged = records(served.log)
    text = served.log.read_text()
    for secret in (VALVE_SECRET, USER_VALVE_SECRET, BODY_SECRET, EVENT_SECRET):
        assert secret not in text, f"{secret} leaked into the log"

    summaries = [r for r in logged if r["event"] == "invocation"]
    assert [s["outcome"] for s in summaries] == ["OK", "FUNCTION_ERROR"]
    for summary in summaries:
        assert summary["level"] == "info"
        assert summary["function_id"] == "leaky"
        assert summary["profile"] == "default"
        assert summary["user_id"] == "u-42"
        assert len(summary["invocation_id"]) == 32
        assert summary["events"] == 1
        assert summary["calls"] == 0
        assert summary["duration_ms"] >= 0
        assert summary["cpu_ms"] > 0
        assert summary["peak_memory_bytes"] > 1024 * 1024
        assert "timestamp" in summary
    assert summaries[0]["invocation_id"] != summaries[1]["invocation_id"]
    assert summaries[1]["error_type"] == "ValueError"
    # Every line logged during an invocation carries its bound fields.
    ids = {s["invocation_id"] for s in summaries}
    during = [r for r in logged if r.get("invocation_id") in ids]
    assert all(r["function_id"] == "leaky" and r["profile"] == "default" for r in during)
    assert any(r["event"] == "gateway_started" for r in logged)
    assert logged[-1]["event"] == "gateway_stopped"


def test_log_level_setting_filters(tmp_path: Path, profiles_dir: Path) -> None:
    # Listening on every interface without authentication logs a warning (and prints one).
    with serving(tmp_path, profiles_dir, "--log-level", "warning", "--listen", "0.0.0.0:0") as served:
        assert served.run("functions").returncode == 0
        assert served.stop() == 0
    lines = served.log.read_text().splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["event"] for r in logged] == ["insecure_listener"]
    assert any(line.startswith("WARNING: listening on 0.0.0.0:0 WITHOUT AUTHENTICATION") for line in lines)
