"""Errors of the bus layer. Each carries an `ErrorBody`, so the edge maps it to HTTP without guessing."""

from __future__ import annotations

from typing import Any

from shared.messages.envelope import ErrorBody, ErrorCode


class BusError(Exception):
    """Base of everything a bus call can raise."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(f"{body.code}: {body.message}")
        self.body = body


class RemoteError(BusError):
    """The agent answered with a typed error."""


class ServiceUnavailable(BusError):
    """Nobody serves the subject (NATS 'no responders'), or the bus is disconnected."""

    def __init__(self, subject: str) -> None:
        super().__init__(ErrorBody(code=ErrorCode.UNAVAILABLE, message=f"no agent is serving {subject}"))


class RequestTimeout(BusError):
    """The agent did not answer in time."""

    def __init__(self, subject: str, timeout: float) -> None:
        super().__init__(
            ErrorBody(code=ErrorCode.TIMEOUT, message=f"{subject} did not answer within {timeout:g}s")
        )


class PublishOutcomeUnknown(RequestTimeout):
    """JetStream did not acknowledge a publish in time: the event may be stored or not (a message
    sent while the connection was down is buffered and can still be stored after the timeout).
    Publishing it again under the same message id is safe: the stream and consumers deduplicate."""

    def __init__(self, subject: str, timeout: float) -> None:
        BusError.__init__(
            self,
            ErrorBody(
                code=ErrorCode.OUTCOME_UNKNOWN,
                message=f"{subject}: no acknowledgement within {timeout:g}s; the event may or may not "
                "be stored, and publishing it again with the same message id is safe",
            ),
        )


class AgentError(Exception):
    """Raised by a handler to answer with a typed error instead of a result."""

    def __init__(self, code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.body = ErrorBody(code=code, message=message, details=details or [])
