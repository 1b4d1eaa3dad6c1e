"""A store that is down or restarting is answered 503 (retry), never 500; bad values stay 422."""

from __future__ import annotations

import asyncpg
import pytest
from asyncpg.exceptions import _base as asyncpg_base

from shared.db.data_errors import refused_value, store_unavailable
from shared.messages.envelope import ErrorCode
from tests.fixtures.stack import free_port


async def test_a_refused_connection_is_unavailable() -> None:
    """Connecting to a PostgreSQL that is not there (a restart in progress) is classed unavailable."""
    with pytest.raises(OSError, match=r"[Cc]onnect|refused") as raised:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", timeout=5)
    body = store_unavailable(raised.value)
    assert body is not None
    assert body.code is ErrorCode.UNAVAILABLE


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another process"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
        asyncpg_base.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        ConnectionResetError("reset by peer"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_what_a_restarting_server_raises_is_unavailable(error: BaseException) -> None:
    """Each error seen while PostgreSQL restarts (the fault suite's kill -9 of the postmaster) is a 503."""
    body = store_unavailable(error)
    assert body is not None
    assert body.code is ErrorCode.UNAVAILABLE
    assert refused_value(error) is None


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_not_unavailable(error: BaseException) -> None:
    """Bad values, constraint violations and our own bugs are not mistaken for a passing outage."""
    assert store_unavailable(error) is None
