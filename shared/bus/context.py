"""The causal context a message carries: correlation id, W3C trace context and the principal.

It travels in NATS headers (so logs can be correlated without decoding bodies) and is bound into
structlog's context variables while a message is handled, so every log line carries it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace

from shared.messages.envelope import Principal, new_message_id

CORRELATION_HEADER = "Mno-Correlation-Id"
TRACEPARENT_HEADER = "traceparent"
MESSAGE_TYPE_HEADER = "Mno-Message-Type"
MESSAGE_ID_HEADER = "Nats-Msg-Id"
# How long a requester waits for its reply, in milliseconds (relative, as gRPC's grpc-timeout: no
# clock is compared across hosts). A service drops a request still queued when that has passed.
TIMEOUT_HEADER = "Mno-Timeout-Ms"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class TraceParent:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> TraceParent:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def parse(cls, value: str | None) -> TraceParent | None:
        """Parse a `traceparent` header; None for anything malformed (a bad header starts a new trace)."""
        if not value:
            return None
        match = _TRACEPARENT.match(value.strip().lower())
        if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
            return None
        return cls(match.group(1), match.group(2), match.group(3))

    def child(self) -> TraceParent:
        """The same trace, a new span: each hop across the bus is its own span."""
        return TraceParent(self.trace_id, secrets.token_hex(8), self.flags)

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def valid_correlation_id(value: str | None) -> str | None:
    """Accept a caller's correlation id only if it is short and plain; otherwise the edge makes one."""
    if value and _CORRELATION_ID.match(value):
        return value
    return None


@dataclass(frozen=True)
class MessageContext:
    correlation_id: str = field(default_factory=new_message_id)
    trace: TraceParent = field(default_factory=TraceParent.new)
    principal: Principal = field(default_factory=Principal)
    causation_id: str | None = None

    def caused_by(self, message_id: str) -> MessageContext:
        """The context for messages sent while handling `message_id`."""
        return replace(self, causation_id=message_id, trace=self.trace.child())

    def headers(self) -> dict[str, str]:
        return {CORRELATION_HEADER: self.correlation_id, TRACEPARENT_HEADER: self.trace.header()}

    def log_fields(self) -> dict[str, str]:
        fields = {"correlation_id": self.correlation_id, "trace_id": self.trace.trace_id}
        if self.principal.team_id:
            fields["team_id"] = self.principal.team_id
        return fields
