"""Canonical JSON: the exact bytes an audit entry's hash covers.

The same content must give the same bytes on every machine, in every Python process, and after a
round trip through PostgreSQL's `jsonb` (which reorders keys, drops insignificant whitespace and
stores numbers as exact decimals). So values are first *normalised* to a small set of types, then
serialised by a fixed set of rules:

* objects: keys must be strings; members sorted by key (Unicode code points); no whitespace;
* strings: `json.dumps(..., ensure_ascii=False)` escaping; NUL characters and lone surrogates are
  refused (`jsonb` and UTF-8 cannot hold them);
* numbers: one spelling per value. Integral values (`1`, `1.0`, `Decimal("1.00")`, `1e2`) become
  integers (`1`, `100`); anything else becomes a normalised `Decimal` written without an exponent
  (`0.1`, `0.00000000000000000001`). Floats go through their shortest repr (`0.1` is `0.1`, not
  its binary expansion). NaN and infinities are refused, and so are magnitudes beyond 10^±1000;
* `UUID` becomes its lower-case string, `datetime` an ISO 8601 UTC string with microseconds and a
  `Z` (naive datetimes are read as UTC), `date` its ISO string, an `Enum` its value, a pydantic
  model its fields, tuples lists, and sets lists sorted by their canonical serialisation.

Parsing stored or exported JSON back (`parse_json`) reads numbers as `Decimal`, so nothing is lost
to binary floating point and the hash can be recomputed exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from enum import Enum
from typing import Any, TypeAlias
from uuid import UUID

from pydantic import BaseModel

__all__ = [
    "JsonValue",
    "canonical_bytes",
    "canonical_json",
    "format_timestamp",
    "normalize_json",
    "parse_json",
]

# What normalize_json returns: JSON with exact numbers (int for integral values, Decimal otherwise).
JsonValue: TypeAlias = bool | int | Decimal | str | list["JsonValue"] | dict[str, "JsonValue"] | None

# Beyond this, numbers stop being data an audit record needs and start being a way to make
# int()/str() burn CPU (Python refuses int strings over 4300 digits anyway).
_MAX_ADJUSTED_EXPONENT = 1000


def format_timestamp(value: datetime) -> str:
    """`2024-05-01T12:00:00.000000Z`: UTC, always six fractional digits (PostgreSQL's precision)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def normalize_json(value: Any) -> JsonValue:
    """`value` as canonical JSON types; raises ValueError or TypeError for what JSON cannot hold."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _number(Decimal(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinities have no JSON form")
        return _number(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("NaN and infinities have no JSON form")
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Enum):
        return normalize_json(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return normalize_json(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}: {key!r}")
            result[_string(key)] = normalize_json(item)
        return result
    if isinstance(value, list | tuple):
        return [normalize_json(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [normalize_json(item) for item in value]
        return sorted(items, key=_serialise)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> str:
    """The canonical serialisation of `value` (normalised first)."""
    return _serialise(normalize_json(value))


def canonical_bytes(value: Any) -> bytes:
    """`canonical_json(value)` as UTF-8: what hashes cover."""
    return canonical_json(value).encode("utf-8")


def parse_json(text: str | bytes) -> JsonValue:
    """Parse JSON text with exact numbers (Decimal, never float), normalised."""

    def refuse_constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return normalize_json(json.loads(text, parse_float=Decimal, parse_constant=refuse_constant))


def _number(value: Decimal) -> int | Decimal:
    if value.is_zero():
        return 0
    if abs(value.adjusted()) > _MAX_ADJUSTED_EXPONENT:
        raise ValueError(f"number out of range for an audit record: {value:.3e}")
    if value == value.to_integral_value():
        return int(value)
    # normalize() rounds to the context's precision (28 digits by default): give it all the digits.
    return value.normalize(Context(prec=max(28, len(value.as_tuple().digits))))


def _string(value: str) -> str:
    if "\x00" in value:
        raise ValueError("strings may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"string is not valid Unicode text: {error.reason}") from None
    return str(value)  # a plain str, not a subclass (str enums, pydantic types)


def _serialise(value: JsonValue) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_serialise(item) for item in value) + "]"
    members = sorted(value.items())
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _serialise(v) for k, v in members) + "}"
