"""Validation of SQL identifiers that have to be spliced into statements.

Schema names cannot be bind parameters, so anything interpolated into SQL must first pass
this strict check; quoting alone would still let a caller address an unexpected schema.
"""

from __future__ import annotations

import re

# Lower-case letters, digits and underscores, starting with a letter, within PostgreSQL's
# 63-byte limit. "pg_" is reserved for system schemas and CREATE SCHEMA rejects it.
_SCHEMA_NAME = re.compile(r"^(?!pg_)[a-z][a-z0-9_]{0,62}$")


class InvalidIdentifierError(ValueError):
    """A name that is not safe to use as a schema identifier."""


def is_valid_schema_name(name: str) -> bool:
    return _SCHEMA_NAME.fullmatch(name) is not None


def quoted_schema(name: str) -> str:
    """The schema name, validated and double-quoted for use in SQL text."""
    if not is_valid_schema_name(name):
        raise InvalidIdentifierError(
            f"invalid schema name {name!r}: use lower-case letters, digits and underscores, "
            "starting with a letter (at most 63 characters, not starting with 'pg_')"
        )
    return f'"{name}"'
