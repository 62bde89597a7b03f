"""Integers of any size cross Airlock exactly, both ways (docs/API.md), up to Python's 4300 digits.

orjson alone writes at most 64-bit integers and reads larger ones as floats; runner.exact_json
keeps orjson's speed and Python's range. Each test sends values just inside and well outside
the 64-bit range through a real gateway and a real sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from airlock.client import AirlockClient, Call, Outcome
from tests.helpers import drain, register

pytestmark = pytest.mark.anyio

#: Around both ends of orjson's range (-2**63 .. 2**64-1) and far beyond it.
BIG = [2**64, -(2**70), 10**30, 2**64 - 1, -(2**63), -(2**63) - 1, 10**400, -(10**1000)]

#: Reads every host-sent place a value can arrive in, and returns what it saw.
ROUND_TRIP = '''
"""
title: Round trip
"""

from pydantic import BaseModel


class Action:
    class Valves(BaseModel):
        limit: int = 0

    class UserValves(BaseModel):
        quota: int = 0

    def __init__(self):
        self.valves = self.Valves()

    async def action(self, body, __user__, __event_call__, __event_emitter__):
        answer = await __event_call__({"type": "input", "data": {"ask": body["numbers"]}})
        await __event_emitter__({"type": "status", "data": {"numbers": body["numbers"]}})
        return {
            "body": body["numbers"],
            "types": [type(n).__name__ for n in body["numbers"]],
            "user": __user__["big"],
            "user_valves": __user__["valves"].quota,
            "valves": self.valves.limit,
            "answer": answer,
            "made_here": 2**64 * 3,
        }
'''


async def test_big_integers_round_trip_through_body_valves_answers_events_and_result(client: AirlockClient) -> None:
    record = await client.put_function("round_trip", ROUND_TRIP, valves={"limit": 2**80})
    assert record.valves == {"limit": 2**80}
    record = await client.update_valves("round_trip", {"limit": -(2**90)})
    assert record.valves == {"limit": -(2**90)}

    asked: list[Any] = []

    async def answer(call: Call) -> Any:
        asked.append(call.data)
        return [n + 1 for n in BIG]

    drained = await drain(
        client,
        "round_trip",
        on_call=answer,
        body={"numbers": BIG},
        user={"id": "u-1", "big": 10**25},
        user_valves={"quota": 2**65},
    )
    assert drained.result.outcome is Outcome.OK, drained.result
    assert drained.result.value == {
        "body": BIG,
        "types": ["int"] * len(BIG),
        "user": 10**25,
        "user_valves": 2**65,
        "valves": -(2**90),
        "answer": [n + 1 for n in BIG],
        "made_here": 2**64 * 3,
    }
    assert asked == [{"ask": BIG}]
    assert drained.event_pairs() == [("status", {"numbers": BIG})]
    assert str(2**64).encode() in drained.result.value_json  # written as digits, not as a float


async def test_a_plugin_returning_2_to_the_64_gets_it_back_exactly(client: AirlockClient) -> None:
    await register(client, "emitter")
    drained = await drain(client, "emitter", body={"return": 2**64})
    assert drained.result.outcome is Outcome.OK, drained.result
    assert drained.result.value_json == b"18446744073709551616"


async def test_an_integer_past_4300_digits_is_the_plugins_error_not_a_crash(client: AirlockClient) -> None:
    source = '"""\ntitle: Huge\n"""\n\n\nclass Action:\n    async def action(self, body):\n        return 10**5000\n'
    await client.put_function("huge", source)
    drained = await drain(client, "huge")
    assert drained.result.outcome is Outcome.FUNCTION_ERROR
    assert drained.result.error_type == "TypeError"
    assert "not JSON-serializable" in drained.result.error
    assert "4300 digits" in drained.result.error
