"""Rows -> a `JSONCompactEachRow` body, the fastest correct insert path measured for chdb.

The C JSON encoder handles str/int/float/bool/None/list/tuple/dict itself; only Decimal,
date-times and a few others go through `_to_json`. That renders ~2x faster than building
TabSeparated text in Python, and ClickHouse parses it as fast.

Decimals are sent as strings so no digit passes through a float. Date-times are sent as ISO
8601; with `INSERT_SETTINGS` ClickHouse honours their UTC offset, and a naive value is
wall-clock time in the column's zone (as with clickhouse-driver).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from uuid import UUID

from .errors import InvalidInputError, UnsupportedValueError

INSERT_FORMAT = "JSONCompactEachRow"
INSERT_SETTINGS = "date_time_input_format = 'best_effort'"


def _decimal_json(value: Decimal) -> str:
    return format(value, "f")


# Exact-type lookup first: this hook runs once per Decimal / datetime value of a bulk insert.
_BY_TYPE: dict[type, Callable[[Any], Any]] = {
    Decimal: _decimal_json,
    datetime: datetime.isoformat,
    date: date.isoformat,
    UUID: str,
    IPv4Address: str,
    IPv6Address: str,
}


def _to_json(value: Any) -> Any:
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, Decimal):
        return _decimal_json(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot insert a {type(value).__name__} into ClickHouse: {value!r}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"), default=_to_json)


def encode_json_rows(rows: Sequence[Sequence[Any]], width: int) -> str:
    """One JSON array per line; every row must be a sequence of exactly `width` values."""
    for number, row in enumerate(rows):
        if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != width:
            raise InvalidInputError(f"row {number} must be a sequence of {width} values, got {row!r}")
    encode = _ENCODER.encode
    try:
        # The encoder writes only lists and tuples as JSON arrays.
        return "\n".join(encode(row if isinstance(row, list | tuple) else list(row)) for row in rows)
    except (TypeError, ValueError) as error:
        raise UnsupportedValueError(str(error)) from error
