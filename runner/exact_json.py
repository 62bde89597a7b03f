"""JSON with exact integers: orjson's speed, Python's range (runs in the gateway and in the sandbox).

orjson holds integers of 64 bits (-2**63 .. 2**64-1): it refuses to write a larger one and
reads one as a float, silently (``2**64`` arrives as ``1.8446744073709552e+19``). JSON and
Python have no such limit, and Open WebUI passes such values through; Airlock promises
integers stay exact (docs/API.md). So both directions keep orjson for everything it holds
exactly and take a slower path only when an integer is out of its range:

* ``dumps`` calls orjson; only when orjson refuses an integer, the value is walked once and
  each such integer is handed to orjson as a ready-made JSON fragment (``orjson.Fragment``),
  so everything else (NaN as null, depth limit, dataclasses, non-string keys) stays orjson's.
* ``loads`` parses with orjson (which also validates: UTF-8, no NaN, nesting); only when the
  text holds a run of digits long enough to be out of range is it parsed again with the
  standard library, which keeps integers exact. That second parse sees a document orjson
  has already accepted, so it can differ only in the integers.

Integers are exact up to Python's ``int_max_str_digits`` (4300 digits by default); a longer
one is refused like malformed JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

import orjson

DecodeError = orjson.JSONDecodeError
EncodeError = orjson.JSONEncodeError
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**64 - 1
#: Digits become "0", a minus stays, anything else becomes a space: then text that may hold
#: an integer orjson reads as a float holds 20 zeros in a row, or a minus and 19 (every
#: 19-digit number and every negative of 18 digits fit). Digits in strings or fractions
#: count too; they only cost the exact parse. One ``bytes.translate`` and two substring
#: searches cost well under orjson's own parse (a regular expression cost five times more).
_DIGITS_ONLY: Final = bytes(0x30 if 0x30 <= c <= 0x39 else c if c == 0x2D else 0x20 for c in range(256))
_TWENTY_DIGITS: Final = b"0" * 20
_MINUS_NINETEEN_DIGITS: Final = b"-" + b"0" * 19


def _maybe_big(data: bytes) -> bool:
    digits = data.translate(_DIGITS_ONLY)
    return _TWENTY_DIGITS in digits or _MINUS_NINETEEN_DIGITS in digits


#: orjson's messages for an integer it cannot hold, as a value or as a dict key, and for a
#: number too large for a float (checked by tests/unit/test_exact_json.py).
_TOO_BIG_MESSAGES: Final = frozenset({"Integer exceeds 64-bit range", "Dict integer key must be within 64-bit range"})
_INFINITE_MESSAGE: Final = "number is infinity when parsed as double"
#: orjson writes at most this many levels; deeper values are left for orjson to refuse.
_MAX_DEPTH: Final = 256


def loads(data: bytes | str) -> Any:
    """Parse JSON like ``orjson.loads``, with integers beyond 64 bits exact; DecodeError if invalid."""
    if isinstance(data, str):
        data = data.encode()
    try:
        value = orjson.loads(data)
    except DecodeError as exc:
        # orjson reads an integer of more than 308 digits as a float, finds it infinite and
        # gives up there: only the exact parse can tell such an integer from 1e400.
        if not str(exc).startswith(_INFINITE_MESSAGE) or not _maybe_big(data):
            raise
        return _exact_loads(data)
    if not _maybe_big(data):
        return value
    return _exact_loads(data)


def _exact_loads(data: bytes) -> Any:
    try:
        text = bytes(data).decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not valid UTF-8: {exc}", "", 0) from None
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # ValueError: an integer past int_max_str_digits
        raise DecodeError(f"a number cannot be read exactly: {exc}", text, 0) from None


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number is infinity when parsed as double: {text[:40]}")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def dumps(value: Any, default: Callable[[Any], Any] | None = None, option: int = 0) -> bytes:
    """Serialise like ``orjson.dumps(value, default=, option=)``, writing integers beyond 64 bits exactly."""
    try:
        return orjson.dumps(value, default=default, option=option)
    except EncodeError as exc:
        if str(exc) not in _TOO_BIG_MESSAGES:
            raise
        refused = exc
    keys = bool(option & orjson.OPT_NON_STR_KEYS)
    try:
        exact_default = None if default is None else (lambda obj: _exact(default(obj), keys, 0))
        return orjson.dumps(_exact(value, keys, 0), default=exact_default, option=option)
    except ValueError as exc:  # an integer past int_max_str_digits
        raise EncodeError(f"{refused}: {exc}") from None


def _exact(value: Any, keys: bool, depth: int) -> Any:
    """``value`` with every integer orjson cannot hold replaced by its exact JSON text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if INT_MIN <= value <= INT_MAX else orjson.Fragment(str(value))
    if depth > _MAX_DEPTH:
        return value  # orjson refuses it for its depth anyway
    if isinstance(value, dict):
        return {_key(k) if keys else k: _exact(v, keys, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_exact(item, keys, depth + 1) for item in value]
    return value


def _key(key: Any) -> Any:
    # A key is a string in JSON: OPT_NON_STR_KEYS writes an int key as its digits; so does this.
    if isinstance(key, int) and not isinstance(key, bool) and not INT_MIN <= key <= INT_MAX:
        return str(key)
    return key
