"""Validation of names that end up inside SQL text.

Table and column names cannot be bound as parameters, so they are the one place where
caller-provided text is spliced into SQL. They must match a strict pattern and are then
back-quoted, which makes injection impossible even if the pattern were loosened later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import InvalidIdentifierError

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
