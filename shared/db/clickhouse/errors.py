"""Exceptions raised by every ClickHouse engine, so callers never see engine-specific errors."""

from __future__ import annotations


class ClickHouseError(Exception):
    """Base class for everything this package raises."""


class QueryError(ClickHouseError):
    """The engine rejected or failed a statement (syntax, type, missing table, ...)."""


class ClickHouseClosedError(ClickHouseError):
    """The engine was used after `close()`."""


class InvalidInputError(ClickHouseError, ValueError):
    """The caller passed something that must never reach the engine."""


class InvalidIdentifierError(InvalidInputError):
    """A table, column or parameter name failed validation."""


class UnsupportedValueError(InvalidInputError, TypeError):
    """A Python value has no ClickHouse text representation here."""
