"""Validation of names that end up inside SQL text.

Table and column names cannot be bound as parameters, so they are the one place where
caller-provided text is spliced into SQL. They must match a strict pattern and are then
back-quoted, which makes injection impossible even if the pattern were loosened later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .errors import InvalidIdentifierError, InvalidInputError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def validate_identifier(name: str) -> str:
    """Return `name` unchanged if it is a plain identifier, else raise InvalidIdentifierError."""
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise InvalidIdentifierError(f"invalid ClickHouse identifier: {name!r}")
    return name


def quote_identifier(name: str) -> str:
    return f"`{validate_identifier(name)}`"


def quote_table_name(table: str) -> str:
    """Quote `table` or `database.table`; anything else is rejected."""
    if not isinstance(table, str):
        raise InvalidIdentifierError(f"invalid ClickHouse table name: {table!r}")
    parts = table.split(".")
    if len(parts) > 2:
        raise InvalidIdentifierError(f"invalid ClickHouse table name: {table!r}")
    return ".".join(quote_identifier(part) for part in parts)


def quote_column_list(columns: Sequence[str]) -> str:
    if isinstance(columns, str) or not columns:
        raise InvalidIdentifierError(f"expected a non-empty sequence of column names, got {columns!r}")
    quoted = [quote_identifier(column) for column in columns]
    if len(set(columns)) != len(columns):
        raise InvalidIdentifierError(f"duplicate column names: {list(columns)!r}")
    return ", ".join(quoted)


def settings_clause(settings: Mapping[str, int] | None) -> str:
    """` SETTINGS a = 1, b = 0` for integer-valued settings (names validated), or ''."""
    if not settings:
        return ""
    parts = []
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"setting {name!r} must be an integer, got {value!r}")
        parts.append(f"{validate_identifier(name)} = {value}")
    return " SETTINGS " + ", ".join(parts)


def column_insert(
    table: str, columns: Mapping[str, Sequence[object]], settings: Mapping[str, int] | None
) -> tuple[int, str]:
    """(row count, `INSERT INTO t (a, b) SETTINGS ...`) of a column-wise insert; each engine appends
    where the data comes from. Every name and setting is validated."""
    count = column_count(columns)
    names = quote_column_list(list(columns))
    return count, f"INSERT INTO {quote_table_name(table)} ({names}){settings_clause(settings)}"


def column_count(columns: Mapping[str, Sequence[object]]) -> int:
    """The common length of column-wise data; InvalidInputError when lengths differ or none given."""
    if not columns:
        raise InvalidInputError("column-wise insert needs at least one column")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"columns differ in length: {lengths}")
    for name, values in columns.items():
        validate_identifier(name)
        if isinstance(values, str | bytes):
            raise InvalidInputError(f"column {name!r} must be a sequence of values, not a string")
    return next(iter(lengths.values()))
