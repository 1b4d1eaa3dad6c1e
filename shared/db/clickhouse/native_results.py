"""Normalisation of clickhouse-driver results to the values the chdb engine returns.

The driver already returns Decimal, dict, list, UUID, ...; only date-times differ: it
yields naive values (in the server's zone) for columns without a declared zone and pytz
zones otherwise. Both engines instead return aware datetimes in the column's declared
zone as a `zoneinfo.ZoneInfo`, or in UTC when the column declares none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from .column_types import ColumnType, parse_column_type
from .json_results import column_zone

Normalizer = Callable[[Any], Any]


def native_rows_to_dicts(
    rows: list[tuple[Any, ...]], columns: list[tuple[str, str]], server_zone: tzinfo
) -> list[dict[str, Any]]:
    names = [name for name, _ in columns]
    normalizers = [native_normalizer(parse_column_type(type_name), server_zone) for _, type_name in columns]
    if all(normalizer is None for normalizer in normalizers):
        return [dict(zip(names, row, strict=True)) for row in rows]
    plan = [(name, normalizer or _identity) for name, normalizer in zip(names, normalizers, strict=True)]
    return [{name: fix(value) for (name, fix), value in zip(plan, row, strict=True)} for row in rows]


def native_normalizer(column_type: ColumnType, server_zone: tzinfo) -> Normalizer | None:
    """Normalizer for driver values of `column_type`; None when they need no change."""
    name = column_type.name
    if name in {"DateTime", "DateTime64"}:
        return _datetime_normalizer(column_zone(column_type), server_zone)
    if name in {"Nullable", "LowCardinality"}:
        inner = native_normalizer(column_type.argument_type(0), server_zone)
        return None if inner is None else (lambda value: None if value is None else inner(value))
    if name == "SimpleAggregateFunction":
        return native_normalizer(column_type.argument_type(1), server_zone)
    if name == "Array":
        item = native_normalizer(column_type.argument_type(0), server_zone)
        return None if item is None else (lambda values: [item(value) for value in values])
    if name == "Map":
        key = native_normalizer(column_type.argument_type(0), server_zone)
        value = native_normalizer(column_type.argument_type(1), server_zone)
        if key is None and value is None:
            return None
        fix_key, fix_value = key or _identity, value or _identity
        return lambda mapping: {fix_key(k): fix_value(v) for k, v in mapping.items()}
    if name == "Tuple":
        return _tuple_normalizer(column_type, server_zone)
    return None


def _identity(value: Any) -> Any:
    return value


def _datetime_normalizer(zone: tzinfo, server_zone: tzinfo) -> Normalizer:
    def normalize(value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=server_zone)
        return value.astimezone(zone)

    return normalize


def _tuple_normalizer(column_type: ColumnType, server_zone: tzinfo) -> Normalizer | None:
    elements = column_type.tuple_elements()
    normalizers = [native_normalizer(element_type, server_zone) for _, element_type in elements]
    if all(normalizer is None for normalizer in normalizers):
        return None
    fixes = [normalizer or _identity for normalizer in normalizers]
    if elements and all(name is not None for name, _ in elements):
        # The driver returns named tuples as dicts (its default namedtuple_as_json=True).
        named = [(name, fix) for (name, _), fix in zip(elements, fixes, strict=True)]
        return lambda obj: {name: fix(obj[name]) for name, fix in named}
    return lambda values: tuple(fix(v) for fix, v in zip(fixes, values, strict=True))
