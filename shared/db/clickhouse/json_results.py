"""Decoding of chdb `JSONCompact` results into the Python values clickhouse-driver returns.

The JSON carries each column's ClickHouse type, so a converter is chosen once per column:
Decimal stays exact (the session quotes decimals), date-times become aware datetimes,
maps become dicts, unnamed tuples tuples. Columns whose JSON value already is the final
Python value (strings, integers, bools) are not touched per row.

The chdb session must run with the settings in `REQUIRED_SESSION_SETTINGS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from ipaddress import ip_address
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from .column_types import ColumnType, parse_column_type

REQUIRED_SESSION_SETTINGS = {
    # Quoted decimals keep every digit; a JSON number would pass through a float.
    "output_format_json_quote_decimals": "1",
    # 64-bit integers as JSON numbers, so they need no per-value conversion.
    "output_format_json_quote_64bit_integers": "0",
    # inf / nan as strings instead of null, which would be indistinguishable from NULL.
    "output_format_json_quote_denormals": "1",
    # UTC with a `Z`, independent of the session time zone.
    "date_time_output_format": "'iso'",
    "output_format_json_named_tuples_as_objects": "1",
    # Invalid UTF-8 in a String becomes U+FFFD instead of making the whole result undecodable.
    "output_format_json_validate_utf8": "1",
}

Converter = Callable[[Any], Any]

_INTEGER_TYPES = frozenset(f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64, 128, 256))
_FLOAT_TYPES = frozenset({"Float32", "Float64", "BFloat16"})
_DECIMAL_TYPES = frozenset({"Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256"})
_WRAPPER_TYPES = frozenset({"LowCardinality"})


@lru_cache(maxsize=64)
def column_zone(column_type: ColumnType) -> tzinfo:
    """The zone date-times of this column are returned in: its declared zone, else UTC."""
    zone = column_type.timezone()
    return ZoneInfo(zone) if zone else UTC


def decode_json_compact(payload: bytes) -> list[dict[str, Any]]:
    if not payload.strip():
        return []
    document = json.loads(payload)
    names = [column["name"] for column in document["meta"]]
    converters = [json_converter(parse_column_type(column["type"])) for column in document["meta"]]
    rows = document["data"]
    if all(converter is None for converter in converters):
        return [dict(zip(names, row, strict=True)) for row in rows]
    plan = [(name, converter or _identity) for name, converter in zip(names, converters, strict=True)]
    return [{name: convert(value) for (name, convert), value in zip(plan, row, strict=True)} for row in rows]


def json_converter(column_type: ColumnType) -> Converter | None:
    """Converter from the JSON value of `column_type` to its Python value; None means identity."""
    name = column_type.name
    if name in _INTEGER_TYPES or name in {"String", "FixedString", "Bool", "Nothing"}:
        return None
    if name.startswith("Enum"):
        return None
    if name in _FLOAT_TYPES:
        return float
    if name in _DECIMAL_TYPES:
        return _to_decimal
    if name in {"Date", "Date32"}:
        return date.fromisoformat
    if name in {"DateTime", "DateTime64"}:
        return _datetime_converter(column_zone(column_type))
    if name == "UUID":
        return UUID
    if name in {"IPv4", "IPv6"}:
        return ip_address
    if name == "Nullable":
        return _nullable(json_converter(column_type.argument_type(0)))
    if name in _WRAPPER_TYPES:
        return json_converter(column_type.argument_type(0))
    if name == "SimpleAggregateFunction":
        return json_converter(column_type.argument_type(1))
    if name == "Array":
        return _array(json_converter(column_type.argument_type(0)))
    if name == "Map":
        return _map(
            _map_key_converter(column_type.argument_type(0)), json_converter(column_type.argument_type(1))
        )
    if name == "Tuple":
        return _tuple(column_type)
    # JSON, Variant, Dynamic, AggregateFunction, ...: the JSON value is the most useful form.
    return None


def _identity(value: Any) -> Any:
    return value


def _to_decimal(value: Any) -> Decimal:
    return Decimal(value if isinstance(value, str | int) else repr(value))


def _datetime_converter(zone: tzinfo) -> Converter:
    if zone is UTC:
        return datetime.fromisoformat

    def convert(value: str) -> datetime:
        return datetime.fromisoformat(value).astimezone(zone)

    return convert


def _map_key_converter(key_type: ColumnType) -> Converter | None:
    # JSON object keys are always strings, whatever the key type.
    while key_type.name in _WRAPPER_TYPES:
        key_type = key_type.argument_type(0)
    if key_type.name in _INTEGER_TYPES:
        return int
    if key_type.name == "Bool":
        return lambda key: key == "true"
    return json_converter(key_type)


def _nullable(inner: Converter | None) -> Converter | None:
    if inner is None:
        return None
    return lambda value: None if value is None else inner(value)


def _array(inner: Converter | None) -> Converter | None:
    if inner is None:
        return None
    return lambda values: [inner(value) for value in values]


def _map(key: Converter | None, value: Converter | None) -> Converter | None:
    if key is None and value is None:
        return None
    convert_key = key or _identity
    convert_value = value or _identity
    return lambda mapping: {convert_key(k): convert_value(v) for k, v in mapping.items()}


def _tuple(column_type: ColumnType) -> Converter:
    elements = column_type.tuple_elements()
    converters = [json_converter(element_type) or _identity for _, element_type in elements]
    if elements and all(name is not None for name, _ in elements):
        named = [(name, converter) for (name, _), converter in zip(elements, converters, strict=True)]
        return lambda obj: {name: convert(obj[name]) for name, convert in named}
    return lambda values: tuple(convert(v) for convert, v in zip(converters, values, strict=True))
