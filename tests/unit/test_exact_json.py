"""runner.exact_json: orjson's output and speed where orjson is exact, Python's integers beyond it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson
import pytest

from runner import exact_json, wire

BIG = [2**64, -(2**70), 10**30, 10**400, -(10**4299)]
IN_RANGE = [0, -1, 2**63, 2**64 - 1, -(2**63), 10**19, -(10**18)]


@pytest.mark.parametrize("number", BIG + IN_RANGE)
def test_integers_round_trip_exactly(number: int) -> None:
    encoded = exact_json.dumps({"n": [number]})
    assert encoded == b'{"n":[' + str(number).encode() + b"]}"
    decoded = exact_json.loads(encoded)
    assert decoded == {"n": [number]}
    assert type(decoded["n"][0]) is int


def test_orjson_still_loses_what_this_module_keeps() -> None:
    # The reason this module exists, and the messages it recognises: a new orjson that
    # changed either would show up here first.
    assert orjson.loads(b"18446744073709551616") == pytest.approx(1.8446744073709552e19)
    assert isinstance(orjson.loads(b"-9223372036854775809"), float)
    with pytest.raises(orjson.JSONEncodeError, match=r"^Integer exceeds 64-bit range$"):
        orjson.dumps(2**64)
    with pytest.raises(orjson.JSONEncodeError, match=r"^Dict integer key must be within 64-bit range$"):
        orjson.dumps({2**64: 1}, option=orjson.OPT_NON_STR_KEYS)
    with pytest.raises(orjson.JSONDecodeError, match=r"^number is infinity when parsed as double"):
        orjson.loads(b"1" * 400)


def test_values_orjson_holds_are_written_as_orjson_writes_them() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "nan": math.nan, "t": (1, 2)}
    assert exact_json.dumps(value) == orjson.dumps(value)
    mixed = {"big": 2**64, "nan": math.nan, "t": (1, "é")}
    assert exact_json.dumps(mixed) == '{"big":18446744073709551616,"nan":null,"t":[1,"é"]}'.encode()


def test_big_integer_keys_follow_the_non_str_keys_option() -> None:
    assert exact_json.dumps({2**64: 1, 3: 2}, option=orjson.OPT_NON_STR_KEYS) == b'{"18446744073709551616":1,"3":2}'
    with pytest.raises(TypeError):
        exact_json.dumps({2**64: 1})  # like orjson without the option: keys must be strings


def test_a_default_may_return_big_integers() -> None:
    @dataclasses.dataclass
    class Opaque:
        n: int

    def default(value: Any) -> Any:
        if isinstance(value, set):
            return sorted(value)
        raise TypeError

    assert exact_json.dumps({"s": {2**64, 1}}, default=default) == b'{"s":[1,18446744073709551616]}'


def test_too_deep_stays_refused_with_a_big_integer_inside() -> None:
    deep: Any = 2**64
    for _ in range(300):
        deep = [deep]
    with pytest.raises(TypeError, match="Recursion limit"):
        exact_json.dumps(deep)
    assert not wire.forwardable(deep)
    assert wire.forwardable([[2**64]])


def test_integers_past_python_digit_limit_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="4300 digits"):
        exact_json.dumps(10**5000)
    with pytest.raises(exact_json.DecodeError, match="4300 digits"):
        exact_json.loads(b"1" * 5000)


@pytest.mark.parametrize(
    "text",
    [
        b"1e400",
        b"[1e400, 100000000000000000000]",
        b"NaN",
        b"[100000000000000000000, NaN]",
        b'"\xff" 100000000000000000000',
    ],
)
def test_invalid_json_stays_invalid(text: bytes) -> None:
    with pytest.raises(exact_json.DecodeError):
        exact_json.loads(text)


def test_long_digit_runs_in_strings_and_fractions_parse_the_same() -> None:
    text = b'{"s":"123456789012345678901234","f":1.00000000000000000000001,"n":-12345678901234567890}'
    assert exact_json.loads(text) == {"s": "123456789012345678901234", "f": 1.0, "n": -12345678901234567890}


def test_frames_carry_big_integers() -> None:
    frame = wire.encode({"op": "result", "ok": True, "value": [2**64, {7: -(2**70)}]})
    assert wire.decode(frame[wire.HEADER.size :]) == {"op": "result", "ok": True, "value": [2**64, {"7": -(2**70)}]}
