"""Errors the SDK raises or reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MnoError(Exception):
    """Base class of every SDK error."""


class UsageNotFound(MnoError, ValueError):
    """A provider response carries no usage (e.g. a stream without its final usage chunk)."""


class MnoApiError(MnoError):
    """The edge refused a batch: its HTTP status and the typed error body it answered with."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"MnoApiError(status={self.status}, code={self.code!r}, message={self.message!r})"


class MnoUnavailable(MnoError):
    """The edge could not be reached or answered 5xx, and there is no good copy to serve instead
    (no earlier answer, no `fallback`)."""
