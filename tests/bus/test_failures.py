"""The pure rule that splits event-handler failures into permanent (dead-letter now) and transient."""

from __future__ import annotations

import asyncio

import asyncpg
import nats.errors
import pytest
from pydantic import BaseModel, ValidationError

from shared.bus.failures import REASON_MAX_CHARS, Disposition, PermanentError, classify, reason_of


class _Model(BaseModel):
    count: int


def _validation_error() -> ValidationError:
    try:
        _Model.model_validate({"count": "many"})
    except ValidationError as error:
        return error
    raise AssertionError("the model accepted a bad count")


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("the event names a team that does not exist"),
        _validation_error(),
        asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
        asyncpg.NumericValueOutOfRangeError("value out of range"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
        asyncpg.CheckViolationError("violates check constraint"),
        asyncpg.NotNullViolationError("null value in column"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bad_data_and_violated_constraints_are_permanent(error: BaseException) -> None:
    """Errors the message itself causes are permanent: a redelivery would fail the same way."""
    assert classify(error) is Disposition.PERMANENT


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        asyncio.CancelledError(),
        ConnectionResetError(),
        nats.errors.TimeoutError(),
        nats.errors.ConnectionClosedError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.InterfaceError("pool is closing"),
        RuntimeError("something we do not know"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_timeouts_lost_connections_and_unknown_errors_are_transient(error: BaseException) -> None:
    """Only what a later attempt can cure, and anything unknown, is retried."""
    assert classify(error) is Disposition.TRANSIENT


def test_an_error_raised_from_bad_data_is_permanent() -> None:
    """A handler that wraps the store's data error (`raise ... from`) keeps it permanent."""
    wrapped = RuntimeError("could not record the canary")
    wrapped.__cause__ = asyncpg.UntranslatableCharacterError("\\u0000 cannot be converted to text")
    assert classify(wrapped) is Disposition.PERMANENT
    assert classify(RuntimeError("no cause")) is Disposition.TRANSIENT


def test_the_reason_is_one_bounded_line() -> None:
    """The reason travels in a NATS header: no line breaks or NULs, and bounded."""
    reason = reason_of(ValueError("first line\nsecond\x00third" + "x" * 2000))
    assert reason.startswith("ValueError: first line second third")
    assert len(reason) == REASON_MAX_CHARS
    assert not any(ord(char) < 32 for char in reason)
