"""A value a store refused is the caller's bad input (a 4xx), not the server failing (a 500).

Request models refuse what our stores cannot hold (control characters, out-of-range numbers), so
these are the safety net for whatever validation misses: PostgreSQL's data exceptions (SQLSTATE class
22: a character the encoding lacks, a string or number too long for its column, text that is not a
valid uuid or date), asyncpg's own refusal of a query argument (an int past int8, a string it cannot
encode), and ClickHouse's refusal of a value for its column type. Both the edge and every agent's
request handlers (shared/bus/service.py) answer them as `validation_failed`.

`store_unavailable` is the other half: a store that is down or restarting is a 503 (retry later),
not a 500.
"""

from __future__ import annotations

import re

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base

from shared.db.clickhouse.errors import QueryError, UnsupportedValueError
from shared.messages.envelope import ErrorBody, ErrorCode

DATA_EXCEPTION_CLASS = "22"
# ClickHouse error codes that mean "this value cannot be read as that type" (not a broken query):
# CANNOT_PARSE_TEXT, CANNOT_PARSE_ESCAPE_SEQUENCE, CANNOT_PARSE_QUOTED_STRING,
# CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATE, CANNOT_PARSE_DATETIME, TYPE_MISMATCH,
# ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, CANNOT_PARSE_NUMBER, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
# CANNOT_PARSE_UUID.
CLICKHOUSE_VALUE_CODES = frozenset({6, 25, 26, 27, 38, 41, 53, 69, 70, 72, 321, 376})
_CLICKHOUSE_CODE = re.compile(r"Code: (\d+)\.")


def refused_value(error: BaseException) -> ErrorBody | None:
    """The typed error for a store's refusal of a value, or None when `error` is something else."""
    if isinstance(error, asyncpg.PostgresError) and str(getattr(error, "sqlstate", "")).startswith(
        DATA_EXCEPTION_CLASS
    ):
        return _body(f"a value cannot be stored: {_first_line(error)}", error.sqlstate)
    if isinstance(error, asyncpg_base.DataError):
        # Client-side: asyncpg could not encode an argument for its column's type.
        return _body(f"a value cannot be stored: {_first_line(error)}", None)
    if isinstance(error, UnsupportedValueError):
        return _body(f"a value cannot be stored: {_first_line(error)}", None)
    if isinstance(error, QueryError):
        match = _CLICKHOUSE_CODE.search(str(error))
        if match and int(match.group(1)) in CLICKHOUSE_VALUE_CODES:
            return _body(f"a value cannot be read as its type: {_first_line(error)}", None)
    return None


# SQLSTATE classes of a server that cannot take the request now: 08 connection exception, 57P
# operator intervention (shutdown, crash shutdown, "the database system is starting up").
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P")


def store_unavailable(error: BaseException) -> ErrorBody | None:
    """The typed 503 for a store that cannot be reached or is restarting, or None for anything else.

    Such a failure is the server's, and passing: nothing was committed (a transaction that loses its
    connection rolls back), so the caller may retry the same request."""
    if isinstance(error, asyncpg.PostgresError) and str(getattr(error, "sqlstate", "")).startswith(
        UNAVAILABLE_SQLSTATE_PREFIXES
    ):
        return _unavailable(error)
    if isinstance(error, (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg_base.InternalClientError)):
        # Refused or reset connections, a connection that died under a query, a protocol state broken
        # by the server going away.
        return _unavailable(error)
    if isinstance(error, asyncpg.InterfaceError) and _LOST_CONNECTION.search(str(error)):
        # asyncpg raises its plain InterfaceError both for a connection or pool that is gone and for a
        # query we got wrong (a wrong number of arguments): only the first is an outage; the second
        # is our bug and stays a 500 so that it is seen.
        return _unavailable(error)
    return None


_LOST_CONNECTION = re.compile(
    r"connection (is|was) closed|pool is clos(ing|ed)|connection .* lost", re.IGNORECASE
)


def _unavailable(error: BaseException) -> ErrorBody:
    return ErrorBody(
        code=ErrorCode.UNAVAILABLE,
        message=f"a store is unavailable, try again shortly: {_first_line(error)[:200]}",
    )


def _body(message: str, sqlstate: str | None) -> ErrorBody:
    detail: dict[str, str] = {"loc": "body", "message": message[:500], "type": "value_not_storable"}
    if sqlstate:
        detail["sqlstate"] = sqlstate
    return ErrorBody(code=ErrorCode.VALIDATION_FAILED, message=message[:500], details=[detail])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
